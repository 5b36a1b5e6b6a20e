package workerpool

import (
	"context"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pool runs a [Func] over submitted jobs with a bounded number of worker
// goroutines and delivers exactly one [Result] per accepted job on the
// channel returned by [Pool.Results].
//
// Jobs go through a buffered channel that the workers range over. Workers are
// started as jobs arrive, up to the limit set by [WithWorkers], so a pool
// that gets few jobs stays small. After [Pool.Close], the workers finish the
// accepted jobs, deliver their Results and exit, and the Results channel is
// closed.
//
// Results must be read when jobs are submitted with Submit or TrySubmit: a
// worker blocks until the reader takes its Result, and Submit blocks once the
// jobs buffer is full. A goroutine that submits and reads Results in turn
// deadlocks as soon as both buffers fill; submit from one goroutine and read
// from another, as the package example does. The jobs of [Pool.Do],
// [Pool.TryDo] and [Pool.Map] deliver their Results to their callers, so a
// pool used only through them needs no reader.
//
// A Pool must be created with [New]. All methods are safe for use by
// multiple goroutines simultaneously. A Pool must not be copied.
type Pool[J, R any] struct {
	fn      Func[J, R]
	cfg     config
	ctx     context.Context
	ctxDone <-chan struct{}
	ctxEnds bool // the pool context can end: its Done is not nil

	jobs    chan envelope[J, R]
	results chan Result[J, R]
	closing chan struct{} // closed by Close; wakes blocked submitters
	// slow serialises the submitters that may block while holding mu. It is
	// a channel, not a mutex, so that waiting for it respects the caller's
	// context.
	slow chan struct{}

	// The acceptance state below is written on every Submit; the padding
	// keeps it off the cache line of the fields that workers read on every
	// job.
	_ [64]byte
	// mu serialises acceptance: the ID chosen for a job and its send on jobs
	// happen under mu, so IDs follow channel order with no gaps. The fast path
	// holds it without blocking; only the holder of slow may block under it.
	mu     sync.Mutex
	closed bool // guarded by mu
	// acceptAfterDone makes Submit accept jobs after the pool context is
	// done (they get its error as their Result); set by Stream before use.
	acceptAfterDone bool
	submitted       atomic.Uint64 // last accepted ID; written under mu
	// In an ordered pool, skips counts the jobs accepted whose Results go
	// to their callers (Do, TryDo, Pool.Map), and marked is its value at
	// the last mark given to the orderer; see orderer.mark. Guarded by mu.
	skips, marked uint64
	_             [64]byte

	limit   atomic.Int64 // the worker limit N
	workers atomic.Int64 // worker goroutines started and not retired
	// free counts workers on their way to take another job that no accepted
	// job has counted on yet, less the jobs waiting for a worker to start;
	// see claimLocked. Kept only while workers < limit.
	free atomic.Int64
	// starting counts workers started and not yet running; see claimLocked.
	starting atomic.Int64

	// spawnMu orders starting workers with Close, so that no worker is
	// added to wg once Close has started waiting on it.
	spawnMu sync.Mutex
	stopped bool // guarded by spawnMu; set by Close

	resizing resizeState // only used while a Resize has left surplus workers

	wg        sync.WaitGroup // counts worker goroutines; closes results
	closeOnce sync.Once
	stats     counters
	order     *orderer[J, R] // nil unless WithOrderedResults
	batch     *batch[J, R]   // set by Map, which takes the Results itself

	simple   bool     // one attempt and no limiter: the plain path
	observer Observer // nil unless WithObserver
	epoch    time.Time

	// Last, away from the fields read on every job.
	idle idleState // retires idle workers; see idle.go
	// sinks holds the sinks of Do, TryDo and Pool.Map calls.
	sinks sinkTable[J, R]
}

// New returns a pool that runs fn over the jobs submitted to it, configured
// by opts. It starts no goroutine: workers start as jobs arrive.
//
// Panics if fn is nil, or if an option is invalid (see each option).
func New[J, R any](fn Func[J, R], opts ...Option) *Pool[J, R] {
	if fn == nil {
		panic("workerpool: New(nil): fn must not be nil")
	}
	c := newConfig(opts)
	c.sizeBuffers(reflect.TypeFor[envelope[J, R]]().Size(), reflect.TypeFor[Result[J, R]]().Size())
	p := &Pool[J, R]{
		fn:      fn,
		cfg:     c,
		ctx:     c.ctx,
		ctxDone: c.ctx.Done(),
		ctxEnds: c.ctx.Done() != nil,
		jobs:    make(chan envelope[J, R], c.bufferSize),
		results: make(chan Result[J, R], c.resultBufSize),
		closing: make(chan struct{}),
		slow:    make(chan struct{}, 1),
		stats:   newCounters(c.workers),

		simple:   c.attempts == 1 && c.limiter == nil,
		observer: c.observer,
		epoch:    time.Now(),
	}
	p.resizing.cond.L = &p.resizing.mu
	p.limit.Store(int64(c.workers))
	if c.ordered {
		p.order = newOrderer(p.results, &p.limit)
	}
	return p
}

// Submit accepts v as a new job and returns its ID, blocking while the jobs
// buffer is full.
//
// On failure it returns 0 and: ctx.Err() if ctx ends first (an already done
// ctx fails at once); [ErrClosed] after [Pool.Close], also when Close is
// called while Submit waits; the pool context's error once that context is
// done. A failed Submit accepts nothing and uses up no ID.
//
// Submit is safe for concurrent use, also with Close. Calling it from inside
// a job can deadlock when the buffer is full and every worker does the same;
// use [Pool.TrySubmit] there.
func (p *Pool[J, R]) Submit(ctx context.Context, v J) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	e := envelope[J, R]{job: Job[J]{Value: v}, accepted: p.stamp()}
	if p.mayHaveRoom() && p.mu.TryLock() {
		id, err, done := p.offerLocked(&e)
		p.mu.Unlock()
		if done {
			return id, err
		}
	}
	return p.submitSlow(ctx, &e)
}

// submit is Submit for a job whose Result goes to to (not nil) instead of
// Results. Submit repeats its few lines rather than calling it, so that a
// Submit pays for no extra call.
//
// The envelope is made here, once, and passed down by pointer: on the path of
// a blocked Submit every frame counts, so that it fits the starting stack
// (TestBlockedSubmitFitsTheStartingStack).
func (p *Pool[J, R]) submit(ctx context.Context, v J, to *sink[J, R]) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	e := envelope[J, R]{job: Job[J]{Value: v}, accepted: p.stamp(), to: uint64(to.handle)}
	if p.mayHaveRoom() && p.mu.TryLock() {
		id, err, done := p.offerLocked(&e)
		p.mu.Unlock()
		if done {
			return id, err
		}
	}
	return p.submitSlow(ctx, &e)
}

// mayHaveRoom reports whether a send on jobs may go through without waiting,
// as far as can be seen without mu: the buffer has a free slot, or the pool is
// unbuffered, where only a send can tell whether a worker is waiting. With
// the buffer full, Submit skips its fast path, which would fail. The capacity
// is read from cfg: cap of a channel of a type parameter's type is a call.
func (p *Pool[J, R]) mayHaveRoom() bool {
	return p.cfg.bufferSize == 0 || len(p.jobs) < p.cfg.bufferSize
}

// submitSlow is Submit when the jobs buffer is full or mu is contended: it
// waits for its turn to block under mu, then sends e or gives up.
//
// Each wait is a call of its own, so that a Submit blocked in one holds a
// single select on its stack: a goroutine that calls Submit fits in its
// starting stack (see TestBlockedSubmitFitsTheStartingStack).
func (p *Pool[J, R]) submitSlow(ctx context.Context, e *envelope[J, R]) (uint64, error) {
	select {
	case p.slow <- struct{}{}: // the turn is free: no need to wait for it
	default:
		if err := send(p, ctx, p.slow, &struct{}{}); err != nil {
			return 0, err
		}
	}
	defer func() { <-p.slow }()
	p.mu.Lock()
	defer p.mu.Unlock()
	id, err, done := p.offerLocked(e)
	if done {
		return id, err
	}
	if err := send(p, ctx, p.jobs, e); err != nil {
		return 0, err
	}
	p.acceptedLocked(e)
	return id, nil
}

// send sends *v on ch for a blocked Submit, or returns why the Submit gives
// up first: ctx's error, ErrClosed, or the pool context's error.
func send[T, J, R any](p *Pool[J, R], ctx context.Context, ch chan<- T, v *T) error {
	select {
	case ch <- *v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.closing:
		return ErrClosed
	case <-p.ctxDone:
		return p.ctx.Err()
	}
}

// TrySubmit accepts v as a new job if the jobs buffer has room and returns its
// ID. It never blocks. On failure it returns 0 and [ErrQueueFull] when the
// buffer is full (with [WithBufferSize](0): when no worker is waiting for a
// job), [ErrClosed] after [Pool.Close], or the pool context's error once that
// is done. A failed TrySubmit accepts nothing and uses up no ID.
//
// TrySubmit is safe for concurrent use, also from inside a job.
func (p *Pool[J, R]) TrySubmit(v J) (uint64, error) {
	return p.trySubmit(v, nil)
}

// trySubmit is TrySubmit for a job whose Result goes to to (nil: Results).
func (p *Pool[J, R]) trySubmit(v J, to *sink[J, R]) (uint64, error) {
	e := envelope[J, R]{job: Job[J]{Value: v}, accepted: p.stamp()}
	if to != nil {
		e.to = uint64(to.handle)
	}
	for {
		if p.mu.TryLock() {
			id, err, done := p.offerLocked(&e)
			p.mu.Unlock()
			if !done {
				return 0, ErrQueueFull
			}
			return id, err
		}
		// mu is held: briefly by another submitter, or by one blocked on a
		// full buffer. Only the first is worth waiting for.
		select {
		case <-p.closing:
			return 0, ErrClosed
		default:
		}
		if len(p.jobs) == cap(p.jobs) {
			return 0, ErrQueueFull
		}
		runtime.Gosched()
	}
}

// offerLocked accepts the job in e, made when its Submit began, if that needs
// no waiting. It gives e its ID and, in an ordered pool, tells the orderer
// where the job stands among the Results (see orderer.mark) before anybody
// can take it. done reports whether the outcome is final; when it is not, id
// is the ID the job would get, and e is ready to send.
func (p *Pool[J, R]) offerLocked(e *envelope[J, R]) (id uint64, err error, done bool) {
	if p.closed {
		return 0, ErrClosed, true
	}
	if !p.acceptAfterDone {
		if err := p.ctx.Err(); err != nil {
			return 0, err, true
		}
	}
	id = p.submitted.Load() + 1
	e.job.ID = id
	if p.order != nil && e.to == 0 && p.skips != p.marked {
		p.order.mark(id, p.skips)
		p.marked = p.skips
	}
	select {
	case p.jobs <- *e:
		p.acceptedLocked(e)
		return id, nil, true
	default:
		// No room, or no worker waiting on an unbuffered channel. Unless a
		// worker is on its way to take a job, one more may make room.
		if p.growing() && p.free.Load() <= 0 && p.starting.Load() == 0 {
			p.startWorker(0)
		}
		return id, nil, false
	}
}

// acceptedLocked records that the job in e was sent and, below the limit,
// makes sure a worker will take it.
func (p *Pool[J, R]) acceptedLocked(e *envelope[J, R]) {
	p.submitted.Store(e.job.ID)
	if p.order != nil && e.to != 0 {
		p.skips++
	}
	if p.growing() {
		p.claimLocked()
	}
}

// growing reports whether the pool may start more workers.
func (p *Pool[J, R]) growing() bool {
	return p.workers.Load() < p.limit.Load()
}

// claimLocked counts on a free worker for a job just accepted, or makes sure
// one will start.
//
// free is the number of workers not running a job minus the jobs waiting in
// the buffer: a worker adds one when it goes back for a job, an accepted job
// takes one away, a worker started adds one, and a worker taking a job lowers
// both sides. While free >= 0, every waiting job has a worker on its way, and
// a job is never left waiting for a worker that is busy while the limit
// allows another. Unlike starting a worker whenever a job waits in the
// buffer, this does not mistake workers that are merely not yet scheduled for
// missing ones, which under a CPU-bound load would start every worker the
// limit allows.
//
// free < 0 counts the jobs waiting for workers yet to start. Only one worker
// is started at a time: a new worker, once it runs, starts the next while free
// is below zero. So workers start as fast as the scheduler runs them, not as
// fast as a submitter can submit, and a burst of short jobs is taken by the
// first workers back instead of starting thousands; a long chain of starts
// also gives way to the goroutines waiting to run (see chainYield). The
// submitter lowers free before it reads starting, and a new worker lowers
// starting before it reads free, so one of the two always sees the other: no
// job is left without a worker to come.
//
// At the limit, neither side keeps count, so free goes stale; Resize resets
// it when the limit rises. Below the limit, the count errs on the safe side:
// a worker that has not yet counted itself, or a reset, makes free lower than
// the truth, and at worst an extra worker starts.
func (p *Pool[J, R]) claimLocked() {
	if p.free.Add(-1) < 0 && p.starting.Load() == 0 {
		p.startWorker(0)
	}
}

// startWorker starts a worker, if the limit allows, and counts it as free:
// first, so that the new worker does not see the job it was started for as
// still waiting and start another. If the limit was reached, the count is not
// taken back: at the limit nobody reads it, and Resize resets it. chain is
// the new worker's place in a chain of starts (see work).
func (p *Pool[J, R]) startWorker(chain int) {
	p.free.Add(1)
	p.spawn(1, chain)
}

// spawn starts up to n workers, as far as the limit allows and unless the
// pool is closed, at place chain in a chain of starts. A worker may start
// another after Close (chain > 0): wg cannot reach zero while it runs.
func (p *Pool[J, R]) spawn(n, chain int) {
	p.spawnMu.Lock()
	defer p.spawnMu.Unlock()
	for ; n > 0 && (chain > 0 || !p.stopped) && p.workers.Load() < p.limit.Load(); n-- {
		p.workers.Add(1)
		p.wg.Add(1)
		p.starting.Add(1)
		go p.work(p.stats.assign(), chain)
		p.watchIdle()
	}
}

// stamp is the time a Submit begins, from which the Observer measures how
// long its job waited; without an Observer it is not read, and is 0.
func (p *Pool[J, R]) stamp() time.Duration {
	if p.observer == nil {
		return 0
	}
	return p.clock()
}

// clock is the time since the pool was made, on the monotonic clock.
func (p *Pool[J, R]) clock() time.Duration {
	return time.Since(p.epoch)
}

// Results returns the channel on which the pool delivers one Result per
// accepted job: in completion order, or in ID order with
// [WithOrderedResults]. Every call returns the same channel. It is closed
// once Close has been called and every accepted job's Result has been
// delivered, so ranging over it ends after Close.
//
// Results is safe for concurrent use.
func (p *Pool[J, R]) Results() <-chan Result[J, R] {
	return p.results
}

// Close stops the pool accepting jobs: later Submit and TrySubmit calls, and
// Submit calls waiting now, return [ErrClosed]. Jobs already accepted still
// run and deliver their Results, after which the Results channel is closed.
//
// Close returns without waiting for jobs. It is idempotent and safe to call
// concurrently with itself and with every other method.
func (p *Pool[J, R]) Close() {
	p.closeOnce.Do(func() {
		close(p.closing)
		// A submitter blocked under mu wakes on closing and lets go of it.
		p.mu.Lock()
		p.closed = true
		close(p.jobs)
		p.mu.Unlock()
		p.spawnMu.Lock()
		p.stopped = true
		p.idle.stop()
		p.spawnMu.Unlock()
		if p.batch != nil {
			return // Map waits on wg itself and has no Results channel
		}
		go func() {
			p.wg.Wait()
			close(p.results)
		}()
	})
}

// Stats returns a snapshot of the pool's counters. It takes no lock, costs a
// few atomic loads and is safe to call at any time, also after Close.
func (p *Pool[J, R]) Stats() Stats {
	// Read in the reverse order of the updates (a job is accepted, started,
	// completed, then counted as failed), so the snapshot never shows more
	// jobs in a later state than in an earlier one.
	panicked := p.stats.sum(func(s *shard) *atomic.Uint64 { return &s.panicked })
	failed := p.stats.sum(func(s *shard) *atomic.Uint64 { return &s.failed })
	completed := p.stats.sum(func(s *shard) *atomic.Uint64 { return &s.completed })
	// Workers waiting for a slot after a shrinking Resize have counted their
	// job as started but are not running it. Read between completed and
	// started, every parked job is in started and not in completed.
	parked := uint64(p.resizing.parked.Load())
	started := p.stats.sum(func(s *shard) *atomic.Uint64 { return &s.started })
	// A worker can start a job in the moment between its send and the
	// submitter recording the ID.
	submitted := max(p.submitted.Load(), started)
	return Stats{
		Workers:   int(p.limit.Load()),
		Live:      int(max(p.workers.Load(), 0)),
		Running:   int(started - completed - parked),
		Queued:    int(submitted - started + parked),
		Submitted: submitted,
		Completed: completed,
		Failed:    failed,
		Panicked:  panicked,
	}
}
