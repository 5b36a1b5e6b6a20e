# Throwaway services for the tests, sourced by .ci/run (and usable by hand:
# `source .ci/services.sh; start_postgres; ...; stop_services`).
#
# Each service runs from a temp directory on free loopback ports and is
# stopped by stop_services, which .ci/run calls on exit, also on failure.
# What works on these machines is in ../shared/SERVICES.md.

services_dir=""
pg_bin=""
pg_data=""

# free_port prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

services_tmp() {
  if [ -z "$services_dir" ]; then
    services_dir=$(mktemp -d)
    chmod 755 "$services_dir"
  fi
}

# start_postgres starts PostgreSQL (installing it from Debian if it is
# missing) as the postgres user, and exports DATABASE_URL.
start_postgres() {
  if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
    echo "installing postgresql"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  services_tmp
  mkdir -p "$services_dir/pg"
  chown postgres "$services_dir/pg"
  pg_data="$services_dir/pg/data"
  local port
  port=$(free_port)
  runuser -u postgres -- "$pg_bin/initdb" -D "$pg_data" -A trust -U postgres >/dev/null
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -l "$services_dir/pg/log" -w start \
    -o "-p $port -k $services_dir/pg -c listen_addresses=127.0.0.1 -c max_connections=200" >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

# stop_services stops whatever was started and removes its files.
stop_services() {
  if [ -n "$pg_data" ] && [ -d "$pg_data" ]; then
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ -n "$services_dir" ]; then
    rm -rf "$services_dir"
  fi
}
