package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// watchdog bounds waits for what must happen; it decides no outcome.
const watchdog = 30 * time.Second

// openTestStore opens the database the tests run against: PostgreSQL at
// DATABASE_URL (which .ci/run starts), or, outside CI, an SQLite file. In CI
// a missing DATABASE_URL is a failure, never a skip.
func openTestStore(t *testing.T, conns int, delay time.Duration) Store {
	t.Helper()
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		if servicesRequired() {
			t.Fatal("DATABASE_URL is not set: .ci/run must start PostgreSQL for these tests")
		}
		t.Log("DATABASE_URL is not set: running against SQLite instead (source .ci/services.sh; start_postgres for PostgreSQL)")
	}
	s, err := openStore(context.Background(), url, filepath.Join(t.TempDir(), "users.sqlite"), conns, delay, 0)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// startServer serves a new service over store through httptest.
func startServer(t *testing.T, store Store, workers, buffer int, timeout time.Duration, opts ...workerpool.Option) (*server, *httptest.Server) {
	t.Helper()
	s := newServer(store, workers, buffer, timeout, opts...)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return s, ts
}

type reply struct {
	status     int
	body       []byte
	retryAfter string
	json       bool
}

func do(t *testing.T, ctx context.Context, c *http.Client, method, url, body string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, b, resp.Header.Get("Retry-After"),
		resp.Header.Get("Content-Type") == "application/json"}, err
}

// TestConcurrentGETsAreCappedAtTheWorkers sends 500 GETs at once: each gets
// its own user, and never more than -workers queries run at once, counted
// in the storage layer and, on PostgreSQL, in pg_stat_activity.
func TestConcurrentGETsAreCappedAtTheWorkers(t *testing.T) {
	const workers, requests = 8, 500
	store := openTestStore(t, workers, 20*time.Millisecond)
	_, ts := startServer(t, store, workers, requests, watchdog)

	stopSampling := make(chan struct{})
	var sampled sync.WaitGroup
	var mostActive, samples atomic.Int64
	if _, ok := store.(*pgStore); ok {
		conn, err := pgx.Connect(context.Background(), os.Getenv("DATABASE_URL"))
		require.NoError(t, err)
		defer conn.Close(context.Background())
		sampled.Go(func() {
			for {
				select {
				case <-stopSampling:
					return
				default:
				}
				var n int64
				err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
					WHERE state = 'active' AND query LIKE 'SELECT id, name FROM users%'`).Scan(&n)
				if !assert.NoError(t, err) {
					return
				}
				samples.Add(1)
				raise(&mostActive, n)
			}
		})
	}

	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			id := 1 + i*17%seedUsers
			r, err := do(t, context.Background(), ts.Client(), "GET", fmt.Sprintf("%s/users/%d", ts.URL, id), "")
			if !assert.NoError(t, err) || !assert.Equal(t, http.StatusOK, r.status, string(r.body)) {
				return
			}
			var u User
			assert.NoError(t, json.Unmarshal(r.body, &u))
			assert.Equal(t, User{ID: int64(id), Name: fmt.Sprintf("user-%d", id)}, u, "the right row")
		})
	}
	wg.Wait()
	close(stopSampling)
	sampled.Wait()

	m := store.Meter().Stats()
	assert.Equal(t, int64(requests), m.Queries)
	assert.LessOrEqual(t, m.Peak, int64(workers), "queries at once, counted in the storage layer")
	assert.Greater(t, m.Peak, int64(1), "the requests did overlap")
	if samples.Load() > 0 {
		t.Logf("pg_stat_activity: %d samples, at most %d active", samples.Load(), mostActive.Load())
		assert.LessOrEqual(t, mostActive.Load(), int64(workers), "active queries in pg_stat_activity")
		assert.Positive(t, mostActive.Load(), "the sampler saw the load")
	}
}

// TestFloodBeyondTheBufferGets503s: more requests at once than workers plus
// buffer: some get 503 with Retry-After, never a hang, and every request is
// answered.
func TestFloodBeyondTheBufferGets503s(t *testing.T) {
	const workers, buffer, requests = 2, 4, 100
	store := openTestStore(t, workers, 50*time.Millisecond)
	_, ts := startServer(t, store, workers, buffer, watchdog)
	client := &http.Client{Timeout: watchdog, Transport: &http.Transport{MaxIdleConnsPerHost: requests}}
	defer client.CloseIdleConnections()

	var ok, busy atomic.Int64
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			r, err := do(t, context.Background(), client, "GET", fmt.Sprintf("%s/users/%d", ts.URL, i+1), "")
			if !assert.NoError(t, err, "every request gets an answer") {
				return
			}
			switch r.status {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusServiceUnavailable:
				busy.Add(1)
				assert.Equal(t, "1", r.retryAfter)
				assert.True(t, r.json)
			default:
				assert.Failf(t, "unexpected status", "%d %s", r.status, r.body)
			}
		})
	}
	wg.Wait()
	t.Logf("%d answered 200, %d answered 503", ok.Load(), busy.Load())
	assert.Equal(t, int64(requests), ok.Load()+busy.Load())
	assert.Positive(t, busy.Load(), "the flood was shed")
	assert.GreaterOrEqual(t, ok.Load(), int64(workers+buffer), "what fits was served")
	assert.LessOrEqual(t, store.Meter().Stats().Peak, int64(workers))
}

// TestClientCancelCancelsItsQuery: a client that gives up on its request
// ends its query early, in the database too.
func TestClientCancelCancelsItsQuery(t *testing.T) {
	const delay = 10 * time.Second // a query that would run this long
	store := openTestStore(t, 2, delay)
	m := store.Meter()
	m.started, m.finished = make(chan struct{}, 1), make(chan error, 1)
	_, ts := startServer(t, store, 2, 2, time.Minute)

	ctx, cancel := context.WithCancel(context.Background())
	answered := make(chan error, 1)
	go func() {
		_, err := do(t, ctx, ts.Client(), "GET", ts.URL+"/users/1", "")
		answered <- err
	}()
	select {
	case <-m.started:
	case <-time.After(watchdog):
		require.FailNow(t, "the query did not start")
	}
	began := time.Now()
	cancel()
	assert.ErrorIs(t, <-answered, context.Canceled)
	select {
	case err := <-m.finished:
		assert.Error(t, err, "the query was cut short, not completed")
		assert.ErrorIs(t, err, context.Canceled)
		t.Logf("the query ended %v after the client went away (it would have run %v): %v",
			time.Since(began).Round(time.Millisecond), delay, err)
	case <-time.After(watchdog):
		require.FailNow(t, "the query did not end")
	}
	if _, ok := store.(*pgStore); ok {
		conn, err := pgx.Connect(context.Background(), os.Getenv("DATABASE_URL"))
		require.NoError(t, err)
		defer conn.Close(context.Background())
		// The cancel request reaches the server at once; its backend may
		// take a moment to stop. A query still active a whole delay later
		// would mean it was never cancelled.
		deadline := time.Now().Add(delay / 2)
		for {
			var n int
			require.NoError(t, conn.QueryRow(context.Background(),
				`SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep%'
				AND pid <> pg_backend_pid()`).Scan(&n))
			if n == 0 {
				break
			}
			require.True(t, time.Now().Before(deadline), "the query still runs in PostgreSQL")
		}
	}
}

// TestBatchDoesNotStarveSingleGETs runs a batch of 5,000 ids and sends a GET
// while every worker runs one of its queries: the GET waits behind at most
// -workers of the batch's queries. The store holds each batch query until the
// test releases it, one at a time, so the count is by queue position: how
// many batch queries start after the GET was accepted and before it starts.
func TestBatchDoesNotStarveSingleGETs(t *testing.T) {
	const workers, size = 4, 5000
	store := openTestStore(t, workers, 0)
	m := store.Meter()
	m.arrivals, m.release = make(chan bool, size+1), make(chan struct{})
	s, ts := startServer(t, store, workers, 64, time.Minute)
	released := false
	releaseAll := func() {
		if !released {
			released = true
			close(m.release)
		}
	}
	t.Cleanup(releaseAll)
	arrival := func() bool { return within(t, m.arrivals, "a query at the store") }

	ids := make([]int64, size)
	for i := range ids {
		ids[i] = int64(1 + i%seedUsers)
	}
	body, err := json.Marshal(ids)
	require.NoError(t, err)
	batchDone := make(chan reply, 1)
	go func() {
		r, err := do(t, context.Background(), ts.Client(), "POST", ts.URL+"/users:batch", string(body))
		assert.NoError(t, err)
		batchDone <- r
	}()
	for range workers {
		require.True(t, arrival(), "only the batch sends queries yet")
	}

	// Every worker holds a batch query. Send the GET and wait until the pool
	// has accepted it.
	before := s.pool.Stats().Submitted
	getDone := make(chan reply, 1)
	go func() {
		r, err := do(t, context.Background(), ts.Client(), "GET", ts.URL+"/users/7", "")
		assert.NoError(t, err)
		getDone <- r
	}()
	for deadline := time.Now().Add(watchdog); s.pool.Stats().Submitted == before; runtime.Gosched() {
		require.True(t, time.Now().Before(deadline), "the GET was never accepted")
	}

	// Release batch queries one at a time until the GET's query arrives.
	ahead := 0
	for {
		m.release <- struct{}{}
		if !arrival() {
			break
		}
		ahead++
		require.LessOrEqual(t, ahead, size, "the GET never ran")
	}
	t.Logf("the GET waited behind %d running and %d queued batch queries", workers, ahead)
	assert.LessOrEqual(t, workers+ahead, workers, "a GET waits behind at most -workers of the batch's queries")

	releaseAll()
	get := within(t, getDone, "the GET's reply")
	require.Equal(t, http.StatusOK, get.status, string(get.body))
	batch := within(t, batchDone, "the batch's reply")
	require.Equal(t, http.StatusOK, batch.status, string(batch.body))
	var users []User
	require.NoError(t, json.Unmarshal(batch.body, &users))
	require.Len(t, users, size)
	for i, u := range users {
		require.Equal(t, ids[i], u.ID, "the batch's users in the order of its ids")
	}
}

// within receives from ch, failing the test if nothing comes in watchdog.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(watchdog):
		require.FailNow(t, what+" never came")
		panic("unreachable")
	}
}

// TestBadInputGetsAClearAnswer: a non-numeric or non-positive id, malformed
// JSON and unknown ids get 400 or 404 with a JSON error, never a 500.
func TestBadInputGetsAClearAnswer(t *testing.T) {
	store := openTestStore(t, 2, 0)
	_, ts := startServer(t, store, 2, 8, watchdog)
	tooMany, err := json.Marshal(make([]int64, maxBatch+1))
	require.NoError(t, err)
	cases := []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/users/abc", "", http.StatusBadRequest},
		{"GET", "/users/0", "", http.StatusBadRequest},
		{"GET", "/users/-3", "", http.StatusBadRequest},
		{"GET", "/users/99999999999999999999", "", http.StatusBadRequest},
		{"GET", "/users/999999", "", http.StatusNotFound},
		{"POST", "/users:batch", "{not json", http.StatusBadRequest},
		{"POST", "/users:batch", `["x"]`, http.StatusBadRequest},
		{"POST", "/users:batch", `[1, 0]`, http.StatusBadRequest},
		{"POST", "/users:batch", string(tooMany), http.StatusBadRequest},
		{"POST", "/users:batch", `[1, 999999, 2]`, http.StatusNotFound},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path+" "+c.body[:min(len(c.body), 12)], func(t *testing.T) {
			r, err := do(t, context.Background(), ts.Client(), c.method, ts.URL+c.path, c.body)
			require.NoError(t, err)
			assert.Equal(t, c.status, r.status, string(r.body))
			assert.True(t, r.json, "a JSON answer")
			var e map[string]string
			require.NoError(t, json.Unmarshal(r.body, &e))
			assert.NotEmpty(t, e["error"])
		})
	}
	r, err := do(t, context.Background(), ts.Client(), "POST", ts.URL+"/users:batch", "[]")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "[]", string(bytes.TrimSpace(r.body)), "an empty batch is an empty array")
}

// TestStatsReportsThePool: /stats is the pool's Stats and the queries'.
func TestStatsReportsThePool(t *testing.T) {
	store := openTestStore(t, 3, 0)
	_, ts := startServer(t, store, 3, 8, watchdog)
	for id := 1; id <= 5; id++ {
		r, err := do(t, context.Background(), ts.Client(), "GET", fmt.Sprintf("%s/users/%d", ts.URL, id), "")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, r.status)
	}
	r, err := do(t, context.Background(), ts.Client(), "GET", ts.URL+"/stats", "")
	require.NoError(t, err)
	var got struct {
		Store string
		Pool  struct{ Workers, Submitted, Completed int }
	}
	require.NoError(t, json.Unmarshal(r.body, &got))
	assert.Equal(t, store.Kind(), got.Store)
	assert.Equal(t, 3, got.Pool.Workers)
	assert.Equal(t, 5, got.Pool.Submitted)
	assert.Equal(t, 5, got.Pool.Completed)
}

// TestAdaptiveLimitFollowsTheQueries runs 32 clients against a server whose
// pool starts at 4 workers with WithAdaptiveLimit(1, 32): once the limit
// has risen to 8 under load (the pool has seen the queries' run time), when
// every query becomes ten times
// slower (-query-delay raised mid-run) the limit comes down, and when the
// queries recover it goes back up. Each step waits for the limit to move,
// with a watchdog; no figure of time is asserted.
func TestAdaptiveLimitFollowsTheQueries(t *testing.T) {
	const clients = 32
	store := openTestStore(t, clients, 2*time.Millisecond)
	s, ts := startServer(t, store, 4, clients, watchdog, workerpool.WithAdaptiveLimit(1, clients))
	client := &http.Client{Timeout: watchdog, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for id := c; ctx.Err() == nil; id = (id + clients) % seedUsers {
				r, err := do(t, ctx, client, "GET", fmt.Sprintf("%s/users/%d", ts.URL, id+1), "")
				if err == nil && r.status != http.StatusOK && r.status != http.StatusServiceUnavailable {
					assert.Failf(t, "unexpected status", "%d %s", r.status, r.body)
				}
			}
		})
	}
	defer func() {
		stop()
		wg.Wait()
	}()
	limit := func() int { return s.pool.Stats().Workers }
	// waitFor polls the limit until ok says so, and returns the limit then.
	waitFor := func(what string, ok func(int) bool) int {
		deadline := time.Now().Add(watchdog)
		for {
			l := limit()
			if ok(l) {
				return l
			}
			require.True(t, time.Now().Before(deadline), "the limit never %s; it is %d", what, l)
			time.Sleep(10 * time.Millisecond)
		}
	}
	before := waitFor("rose to 8 under load", func(l int) bool { return l >= 8 })
	store.SetDelay(20 * time.Millisecond)
	low := waitFor("came down", func(l int) bool { return l <= before/2 })
	t.Logf("queries of 2 ms: limit %d; of 20 ms: %d", before, low)
	store.SetDelay(2 * time.Millisecond)
	high := waitFor("went back up", func(l int) bool { return l >= 2*low && l >= 8 })
	t.Logf("queries of 2 ms again: limit %d", high)
}

// servicesRequired reports whether a missing PostgreSQL is a failure rather
// than a fallback to SQLite: in CI, and under scripts/test.sh, which starts
// one.
func servicesRequired() bool {
	return os.Getenv("CI") == "true" || os.Getenv("WORKERPOOL_REQUIRE_SERVICES") == "1"
}
