package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/workerpool-go/workerpool"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// seedUsers is how many users a new database gets.
const seedUsers = 10_000

// User is a row of the users table.
type User struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// errNotFound is the error of a query for a user that does not exist.
var errNotFound = errors.New("user not found")

// errBusy is wrapped by the errors of a database that refuses a query
// because it has too much to do; they are also marked
// workerpool.Overloaded, so that an adaptive pool lowers its limit.
var errBusy = errors.New("the database is overloaded")

// Store is where the users live. User is safe for concurrent use.
type Store interface {
	// User returns user id, or an error that wraps errNotFound, or one
	// marked workerpool.Permanent when retrying cannot help; other errors
	// are transient.
	User(ctx context.Context, id int64) (User, error)
	// SetDelay changes the time added to every query from now on (see
	// -query-delay).
	SetDelay(d time.Duration)
	Meter() *Meter
	Kind() string // "postgres" or "sqlite"
	Close()
}

// Meter counts the queries of a store: how many run now, the most that ever
// ran at once, and how many ran in all.
type Meter struct {
	inFlight, peak, total atomic.Int64
	// started and finished, when set (tests), get each query's start and
	// end (its error); sends never block.
	started  chan struct{}
	finished chan error
	// arrivals and release, when set (tests), hold every batch query: each
	// query sends whether it is one of a batch on arrivals (which must have
	// room for all of them), and a batch query then waits for a receive from
	// release before it runs.
	arrivals chan bool
	release  chan struct{}

	mu   sync.Mutex
	took [1 << 16]time.Duration // the run times of the last queries, a ring
	n    int                    // queries recorded in took since reset
}

// MeterStats is a snapshot of a Meter.
type MeterStats struct {
	InFlight int64 `json:"in_flight"`
	Peak     int64 `json:"peak"`
	Queries  int64 `json:"queries"`
}

// Stats returns a snapshot of m.
func (m *Meter) Stats() MeterStats {
	return MeterStats{m.inFlight.Load(), m.peak.Load(), m.total.Load()}
}

// enter counts a query of the kind ctx says in, and returns the func that
// counts it out.
func (m *Meter) enter(ctx context.Context) func(error) {
	n := m.inFlight.Add(1)
	m.total.Add(1)
	raise(&m.peak, n)
	notify(m.started, struct{}{})
	if m.arrivals != nil {
		batch := kindOf(ctx).batch
		m.arrivals <- batch
		if batch {
			<-m.release
		}
	}
	began := time.Now()
	return func(err error) {
		d := time.Since(began)
		m.inFlight.Add(-1)
		m.mu.Lock()
		m.took[m.n%len(m.took)] = d
		m.n++
		m.mu.Unlock()
		notify(m.finished, err)
	}
}

// Durations returns the run times of the queries since the last reset (the
// last 65,536 of them at most), and resets them if reset is set.
func (m *Meter) Durations(reset bool) []time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	ds := slices.Clone(m.took[:min(m.n, len(m.took))])
	if reset {
		m.n = 0
	}
	return ds
}

func raise(max *atomic.Int64, n int64) {
	for m := max.Load(); n > m && !max.CompareAndSwap(m, n); m = max.Load() {
	}
}

func notify[T any](ch chan T, v T) {
	if ch == nil {
		return
	}
	select {
	case ch <- v:
	default:
	}
}

// kind says what a query is for: one of a batch, or (the zero kind) a single
// GET.
type kind struct {
	batch bool
}

type kindKey struct{}

func withKind(ctx context.Context, k kind) context.Context {
	return context.WithValue(ctx, kindKey{}, k)
}

func kindOf(ctx context.Context) kind {
	k, _ := ctx.Value(kindKey{}).(kind)
	return k
}

// pgStore keeps the users in PostgreSQL, through pgx's pool.
type pgStore struct {
	db    *pgxpool.Pool
	delay atomic.Int64 // ns added to every query with pg_sleep
	cpu   int          // rows every query counts, to make it CPU-bound
	meter Meter
}

// openPostgres connects to url with a connection pool of conns, creates and
// seeds the table if needed. With delay > 0 every query also sleeps that
// long in the server (pg_sleep), to make load visible; with cpu > 0 it also
// counts that many rows of generate_series, which keeps a core busy.
func openPostgres(ctx context.Context, url string, conns int, delay time.Duration, cpu int) (*pgStore, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(conns)
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &pgStore{db: db, cpu: cpu}
	s.SetDelay(delay)
	if err := s.seed(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *pgStore) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

func (s *pgStore) seed(ctx context.Context) error {
	_, err := s.db.Exec(ctx, `CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY, name text NOT NULL)`)
	if err == nil {
		_, err = s.db.Exec(ctx, `INSERT INTO users SELECT g, 'user-' || g FROM generate_series(1, $1::bigint) g
			ON CONFLICT DO NOTHING`, seedUsers)
	}
	return err
}

func (s *pgStore) User(ctx context.Context, id int64) (u User, err error) {
	done := s.meter.enter(ctx)
	defer func() { done(err) }()
	delay := time.Duration(s.delay.Load())
	var row pgx.Row
	switch {
	case s.cpu > 0:
		row = s.db.QueryRow(ctx, `SELECT id, name FROM users, pg_sleep($2),
			(SELECT count(*) FROM generate_series(1, $3::int)) c WHERE id = $1`, id, delay.Seconds(), s.cpu)
	case delay > 0:
		row = s.db.QueryRow(ctx, `SELECT id, name FROM users, pg_sleep($2) WHERE id = $1`, id, delay.Seconds())
	default:
		row = s.db.QueryRow(ctx, `SELECT id, name FROM users WHERE id = $1`, id)
	}
	err = row.Scan(&u.ID, &u.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, workerpool.Permanent(fmt.Errorf("user %d: %w", id, errNotFound))
	}
	return u, pgClassify(err)
}

// pgClassify marks as permanent every error but those that another try may
// cure: a serialization failure or deadlock, and a lost connection.
func pgClassify(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pgErr):
		if pgErr.Code == "40001" || pgErr.Code == "40P01" { // serialization_failure, deadlock_detected
			return err
		}
		if pgErr.Code == "53300" || pgErr.Code == "53400" { // too_many_connections, configuration_limit_exceeded
			return workerpool.Overloaded(fmt.Errorf("%w: %w", errBusy, err))
		}
		return workerpool.Permanent(err)
	case lostConnection(err) || pgconn.SafeToRetry(err):
		return err
	}
	return workerpool.Permanent(err)
}

// lostConnection reports whether err says the connection broke.
func lostConnection(err error) bool {
	var netErr net.Error
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.As(err, &netErr) && !errors.Is(err, context.DeadlineExceeded)
}

func (s *pgStore) Meter() *Meter { return &s.meter }
func (s *pgStore) Kind() string  { return "postgres" }
func (s *pgStore) Close()        { s.db.Close() }

// sqliteStore keeps the users in an SQLite file, through the pure-Go driver:
// the default, so that the service runs with nothing installed.
type sqliteStore struct {
	db    *sql.DB
	delay atomic.Int64 // ns waited before every query
	meter Meter
}

// openSQLite opens (and on first use creates and seeds) the database file
// at path, with at most conns connections.
func openSQLite(ctx context.Context, path string, conns int, delay time.Duration) (*sqliteStore, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	s := &sqliteStore{db: db}
	s.SetDelay(delay)
	if err := s.seed(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *sqliteStore) seed(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`)
	if err == nil {
		_, err = s.db.ExecContext(ctx, `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?)
			INSERT OR IGNORE INTO users SELECT i, 'user-' || i FROM g`, seedUsers)
	}
	return err
}

func (s *sqliteStore) User(ctx context.Context, id int64) (u User, err error) {
	done := s.meter.enter(ctx)
	defer func() { done(err) }()
	if delay := time.Duration(s.delay.Load()); delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return u, workerpool.Permanent(ctx.Err())
		}
	}
	err = s.db.QueryRowContext(ctx, `SELECT id, name FROM users WHERE id = ?`, id).Scan(&u.ID, &u.Name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return u, workerpool.Permanent(fmt.Errorf("user %d: %w", id, errNotFound))
	case err == nil:
		return u, nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_BUSY || se.Code() == sqlite3.SQLITE_LOCKED) {
		return u, err // another try may get the lock
	}
	return u, workerpool.Permanent(err)
}

func (s *sqliteStore) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }
func (s *sqliteStore) Meter() *Meter            { return &s.meter }
func (s *sqliteStore) Kind() string             { return "sqlite" }
func (s *sqliteStore) Close()                   { s.db.Close() }
