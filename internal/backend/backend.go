// Package backend simulates a service that a pool's jobs call, such as a
// database: it serves at most C calls at once, each for a service time drawn
// from a lognormal distribution around S, and queues the calls beyond C
// inside itself, first come first served. In the collapse variant the
// backend also slows as it is overloaded, as a thrashing database does: a
// call that starts while n calls are inside takes S × (1 + (n-C)/C) for
// n > C.
//
// It drives the adaptive limit's tests (on the fake clock of
// testing/synctest) and the benchmarks module's adaptive comparison.
package backend

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Backend is a simulated service. Its methods are safe for concurrent use.
type Backend struct {
	service  time.Duration
	sigma    float64
	collapse bool

	mu       sync.Mutex
	capacity int
	serving  int             // calls being served
	inside   int             // calls inside: serving or queued
	queue    []chan struct{} // calls waiting for a place, oldest first
	rng      *rand.Rand
}

// New returns a backend that serves capacity calls at once, each for a
// lognormal time with median service and shape sigma (0: always service).
// collapse selects the variant that slows under overload. seed seeds the
// service times.
func New(capacity int, service time.Duration, sigma float64, collapse bool, seed uint64) *Backend {
	return &Backend{
		service:  service,
		sigma:    sigma,
		collapse: collapse,
		capacity: max(capacity, 1),
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

// SetCapacity changes how many calls the backend serves at once. Calls
// being served finish; queued calls start as places free up.
func (b *Backend) SetCapacity(c int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.capacity = max(c, 1)
	b.admit()
}

// Capacity returns the number of calls the backend serves at once.
func (b *Backend) Capacity() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.capacity
}

// Call makes one call: it waits for a place, then for its service time. It
// returns the time the call spent inside the backend, queued and served.
// If ctx ends first, Call returns ctx's error at once; a call being served
// keeps its place until its service time is over, as a query keeps running
// on a database whose client gave up.
func (b *Backend) Call(ctx context.Context) (time.Duration, error) {
	began := time.Now()
	b.mu.Lock()
	b.inside++
	if b.serving < b.capacity {
		b.serving++
	} else {
		ready := make(chan struct{})
		b.queue = append(b.queue, ready)
		b.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			b.mu.Lock()
			if b.dequeue(ready) {
				b.inside--
				b.mu.Unlock()
				return time.Since(began), ctx.Err()
			}
			b.mu.Unlock()
			// Admitted as ctx ended: the place is ours; serve the call.
		}
		b.mu.Lock()
	}
	d := b.draw()
	b.mu.Unlock()
	served := time.Now()
	t := time.NewTimer(d)
	select {
	case <-t.C:
		b.leave()
		return time.Since(began), nil
	case <-ctx.Done():
		t.Stop()
		time.AfterFunc(d-time.Since(served), b.leave)
		return time.Since(began), ctx.Err()
	}
}

// draw returns the service time of a call that starts now. Called with mu
// held.
func (b *Backend) draw() time.Duration {
	d := float64(b.service)
	if b.sigma > 0 {
		d *= math.Exp(b.sigma * b.rng.NormFloat64())
	}
	if b.collapse && b.inside > b.capacity {
		d *= 1 + float64(b.inside-b.capacity)/float64(b.capacity)
	}
	return time.Duration(d)
}

// leave ends a call that was served.
func (b *Backend) leave() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.serving--
	b.inside--
	b.admit()
}

// admit starts queued calls while places are free. Called with mu held.
func (b *Backend) admit() {
	for b.serving < b.capacity && len(b.queue) > 0 {
		b.serving++
		close(b.queue[0])
		b.queue = b.queue[1:]
	}
}

// dequeue takes a queued call out of the queue and reports whether it was
// still there. Called with mu held.
func (b *Backend) dequeue(ready chan struct{}) bool {
	for i, c := range b.queue {
		if c == ready {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			return true
		}
	}
	return false
}
