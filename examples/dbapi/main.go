// Command dbapi is a small JSON HTTP service over a real database that
// shares one workerpool.Pool among its request handlers, so that however
// many requests arrive at once, no more than -workers queries reach the
// database:
//
//	GET  /users/{id}   one user, through Pool.TryDo: 503 with Retry-After when the pool is full
//	POST /users:batch  a JSON array of ids, the users in the same order, through Pool.Map
//	GET  /stats        the pool's Stats and the queries in flight
//
// With DATABASE_URL set it uses PostgreSQL (pgx, with a connection pool
// sized to -workers); otherwise an SQLite file (pure Go, nothing to install).
// The database is seeded with 10,000 users on first start.
//
//	cd examples && go run ./dbapi                  # serve on 127.0.0.1:8080
//	cd examples && go run ./dbapi -load 20000      # a load run against an in-process server, then exit
//	cd examples && go run ./dbapi -adaptive 1,64   # the pool finds its limit (WithAdaptiveLimit)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/workerpool-go/workerpool"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	workers := flag.Int("workers", 8, "most queries at once (and the database connections)")
	buffer := flag.Int("buffer", 32, "queries that may wait for a worker before GETs get 503")
	timeout := flag.Duration("timeout", 2*time.Second, "each request's deadline")
	sqlitePath := flag.String("sqlite", filepath.Join(os.TempDir(), "workerpool-dbapi.sqlite"),
		"SQLite file to use when DATABASE_URL is not set")
	delay := flag.Duration("query-delay", 0, "added to every query (pg_sleep on PostgreSQL), to make load visible")
	cpu := flag.Int("query-cpu", 0, "PostgreSQL only: rows of generate_series every query counts, to make it CPU-bound")
	adaptive := flag.String("adaptive", "", "min,max: let the pool find its limit between min and max (WithAdaptiveLimit) instead of a fixed -workers")
	load := flag.Int("load", 0, "instead of serving, send this many GETs to an in-process server and print figures")
	clients := flag.Int("clients", 64, "concurrent clients of -load")
	flag.Parse()
	if *workers < 1 || *buffer < 0 || *load < 0 || *clients < 1 || *cpu < 0 {
		log.Fatal("-workers and -clients must be at least 1, -buffer, -load and -query-cpu not negative")
	}
	var opts []workerpool.Option
	conns := *workers
	if *adaptive != "" {
		lo, hi, err := parseBounds(*adaptive)
		if err != nil {
			log.Fatalf("-adaptive %q: %v", *adaptive, err)
		}
		opts = append(opts, workerpool.WithAdaptiveLimit(lo, hi))
		conns = hi // a connection for every query the limit may allow
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	store, err := openStore(ctx, os.Getenv("DATABASE_URL"), *sqlitePath, conns, *delay, *cpu)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	s := newServer(store, *workers, *buffer, *timeout, opts...)
	defer s.Close()

	if *load > 0 {
		if err := runLoad(ctx, os.Stdout, s, *load, *clients); err != nil {
			log.Fatal(err)
		}
		return
	}
	srv := &http.Server{Addr: *addr, Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	limit := fmt.Sprintf("%d workers", *workers)
	if *adaptive != "" {
		limit = "an adaptive limit in " + *adaptive
	}
	log.Printf("serving on http://%s (%s, %s, buffer %d)", *addr, store.Kind(), limit, *buffer)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// parseBounds parses -adaptive's "min,max".
func parseBounds(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		return 0, 0, errors.New("want min,max")
	}
	if lo, err = strconv.Atoi(strings.TrimSpace(a)); err == nil {
		hi, err = strconv.Atoi(strings.TrimSpace(b))
	}
	if err == nil && (lo < 1 || hi < lo) {
		err = errors.New("want 1 <= min <= max")
	}
	return lo, hi, err
}

// openStore opens PostgreSQL at url, or, if url is empty, the SQLite file at
// sqlitePath, with conns connections; delay and cpu are -query-delay and
// -query-cpu.
func openStore(ctx context.Context, url, sqlitePath string, conns int, delay time.Duration, cpu int) (Store, error) {
	if url != "" {
		s, err := openPostgres(ctx, url, conns, delay, cpu)
		if err != nil {
			return nil, fmt.Errorf("PostgreSQL at DATABASE_URL: %w", err)
		}
		return s, nil
	}
	s, err := openSQLite(ctx, sqlitePath, conns, delay)
	if err != nil {
		return nil, fmt.Errorf("SQLite at %s: %w", sqlitePath, err)
	}
	return s, nil
}
