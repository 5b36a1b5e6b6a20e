package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"time"

	"github.com/workerpool-go/workerpool"
)

// maxBatch is the most ids one batch request may ask for.
const maxBatch = 10_000

// server is the HTTP service: every query goes through one shared pool, which
// caps how many reach the database at once.
type server struct {
	store   Store
	pool    *workerpool.Pool[int64, User]
	timeout time.Duration // each request's deadline
	mux     *http.ServeMux
}

// newServer returns the service over store, with workers queries at most at
// once and buffer more waiting, each request under a deadline of timeout;
// opts add to the pool's options (WithAdaptiveLimit). Close it to stop its
// pool.
func newServer(store Store, workers, buffer int, timeout time.Duration, opts ...workerpool.Option) *server {
	s := &server{
		store: store,
		pool: workerpool.New(store.User, append([]workerpool.Option{
			workerpool.WithWorkers(workers),
			workerpool.WithBufferSize(buffer),
			// Transient errors (a serialization failure, a lost connection,
			// an overloaded database) get two more tries; the store marks
			// the others Permanent.
			workerpool.WithRetry(3, workerpool.ExponentialBackoff(10*time.Millisecond, 200*time.Millisecond)),
		}, opts...)...),
		timeout: timeout,
		mux:     http.NewServeMux(),
	}
	s.mux.HandleFunc("GET /users/{id}", s.getUser)
	s.mux.HandleFunc("POST /users:batch", s.batch)
	s.mux.HandleFunc("GET /stats", s.stats)
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops the pool; the queries in flight finish first.
func (s *server) Close() { s.pool.Close() }

// getUser answers GET /users/{id} through TryDo: a full pool answers 503 at
// once instead of queueing without bound, and the request's context (its
// deadline, the client going away) reaches the query.
func (s *server) getUser(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "id must be a positive integer")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	u, err := s.pool.TryDo(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// batch answers POST /users:batch, a JSON array of ids, with the users in the
// same order, through Pool.Map on the same pool: the batch keeps at most
// -workers of its queries queued or running, so single GETs arriving behind
// it wait for a few queries, not for the whole batch.
func (s *server) batch(w http.ResponseWriter, r *http.Request) {
	var ids []int64
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&ids); err != nil {
		writeError(w, http.StatusBadRequest, "the body must be a JSON array of ids: "+err.Error())
		return
	}
	if len(ids) > maxBatch {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("at most %d ids at once", maxBatch))
		return
	}
	for _, id := range ids {
		if id < 1 {
			writeError(w, http.StatusBadRequest, "ids must be positive integers")
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	users, err := s.pool.Map(withKind(ctx, kind{batch: true}), ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, users)
}

// stats answers GET /stats: the pool's counters and the store's.
func (s *server) stats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Store   string           `json:"store"`
		Pool    workerpool.Stats `json:"pool"`
		Queries MeterStats       `json:"queries"`
		Time    string           `json:"time"`
	}{s.store.Kind(), s.pool.Stats(), s.store.Meter().Stats(), time.Now().UTC().Format(time.RFC3339)})
}

// fail answers a request whose query failed with err.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, workerpool.ErrQueueFull), errors.Is(err, errBusy):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "too many requests in flight; retry later")
	case errors.Is(err, errNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case r.Context().Err() != nil:
		// The client went away: nobody reads an answer.
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, "the query took longer than the request's deadline")
	case errors.Is(err, workerpool.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "shutting down")
	default:
		log.Printf("%s %s: %v", r.Method, r.URL.Path, err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("writing the response: %v", err)
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
