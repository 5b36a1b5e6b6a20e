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

# start_rabbitmq starts RabbitMQ (installing it from Debian if it is
# missing) with its files in a temp directory owned by the rabbitmq user, on
# free loopback ports (AMQP, distribution and epmd), no plugins, and exports
# AMQP_URL and the RABBITMQ_* variables that rabbitmqctl, and a test that
# restarts the broker with rabbitmq-server, need to find the same node.
start_rabbitmq() {
  if ! command -v rabbitmq-server >/dev/null; then
    echo "installing rabbitmq-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  fi
  services_tmp
  local d="$services_dir/rabbitmq" port
  mkdir -p "$d/mnesia" "$d/log"
  echo '[].' > "$d/plugins"
  chown -R rabbitmq:rabbitmq "$d"
  port=$(free_port)
  export RABBITMQ_NODENAME="test$port@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$port" RABBITMQ_DIST_PORT="$(free_port)" ERL_EPMD_PORT="$(free_port)" \
    RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log" \
    RABBITMQ_FEATURE_FLAGS_FILE="$d/ff" RABBITMQ_ENABLED_PLUGINS_FILE="$d/plugins" \
    RABBITMQ_SERVER_OUT="$d/out.txt"
  rabbitmq-server > "$RABBITMQ_SERVER_OUT" 2>&1 &
  rabbitmq_started=1
  # await_startup fails at once while the node is not up yet: ask again.
  local tries=0
  until rabbitmqctl -q -n "$RABBITMQ_NODENAME" await_startup >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
      echo "RabbitMQ did not start:"; tail -30 "$RABBITMQ_SERVER_OUT"; return 1
    fi
    sleep 1
  done
  export AMQP_URL="amqp://guest:guest@127.0.0.1:$port/"
  echo "RabbitMQ $(rabbitmqctl -q -n "$RABBITMQ_NODENAME" version 2>/dev/null) on 127.0.0.1:$port"
}

# stop_services stops whatever was started and removes its files.
stop_services() {
  if [ -n "${rabbitmq_started:-}" ]; then
    rabbitmqctl -q -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1 || true
    pkill -9 -f -- "-epmd_port $ERL_EPMD_PORT" 2>/dev/null || true # a broker that would not stop
    epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
  fi
  if [ -n "$pg_data" ] && [ -d "$pg_data" ]; then
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ -n "$services_dir" ]; then
    rm -rf "$services_dir"
  fi
}
