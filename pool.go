package workerpool

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
)

// Pool runs a [Func] over submitted jobs with a bounded number of worker
// goroutines and delivers exactly one [Result] per accepted job on the
// channel returned by [Pool.Results].
//
// Jobs go through a buffered channel that the workers receive from. Workers
// are started as jobs arrive, up to the limit set by [WithWorkers], so a pool
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
	// Read by workers on every job, written only by New.
	run    runner[J, R]
	ctx    context.Context
	jobCtx context.Context // ctx, marked as a job context of this pool; see ownedCtx
	// bgJobCtx is context.Background(), marked: the job context of a Do
	// whose caller's context is Background.
	bgJobCtx *ownedCtx
	ctxDone  <-chan struct{} // nil when Submit ignores the end of ctx (Stream)
	ctxEnds  bool            // the pool context can end: its Done is not nil
	jobs     chan envelope[J, R]
	results  chan Result[J, R]
	order    *orderer[J, R] // nil unless WithOrderedResults
	closing  chan struct{}  // closed by Close; wakes blocked submitters
	// slow serialises the submitters that may wait under mu for room. It
	// is a channel, not a mutex, so that waiting for it respects the
	// caller's context.
	slow chan struct{}
	// stepAside asks the Submit waiting under mu to let go of it (see lock).
	stepAside       chan struct{}
	bufferSize      int
	acceptAfterDone bool // Stream: accept jobs after ctx ends; they get its error
	stats           counters

	// The acceptance state below is written on every Submit; the padding
	// keeps it off the cache lines of the fields that workers read on every
	// job.
	_ [64]byte
	// mu serialises acceptance: the ID chosen for a job and its send on jobs
	// happen under mu, so IDs follow channel order with no gaps. Only a
	// Submit on a full pool waits under mu for a job to finish, and it lets
	// go of mu for TrySubmit and an inline Do (see lock).
	mu        sync.Mutex
	closed    bool          // guarded by mu
	wanting   atomic.Int32  // callers of lock waiting for mu; see lock
	submitted atomic.Uint64 // last accepted ID; written under mu
	// In an ordered pool, skips counts the jobs accepted whose Results go
	// to their callers (Do, TryDo, Pool.Map), and marked is its value at
	// the last mark given to the orderer; see orderer.mark. Guarded by mu.
	skips, marked uint64
	_             [64]byte

	eng       engine // the worker count and its transitions; see engine.go
	wg        sync.WaitGroup
	closeOnce sync.Once
	idle      idleState // retires idle workers; see idle.go
	sinks     sinkTable[J, R]
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
	return newPool(fn, &c, false)
}

// newPool returns a pool for the configuration c. acceptAfterDone makes it
// accept jobs after its context ends (Stream).
func newPool[J, R any](fn Func[J, R], c *config, acceptAfterDone bool) *Pool[J, R] {
	var a *adaptive
	shardFor := c.workers
	if c.adaptMax > 0 {
		c.workers = c.startingLimit()
		shardFor = c.adaptMax
		a = &adaptive{min: int64(c.adaptMin), max: int64(c.adaptMax), slowStart: true}
	}
	c.sizeBuffers(reflect.TypeFor[envelope[J, R]]().Size(), reflect.TypeFor[Result[J, R]]().Size())
	p := &Pool[J, R]{
		run:             newRunner(fn, c, a),
		ctx:             c.ctx,
		ctxEnds:         c.ctx.Done() != nil,
		jobs:            make(chan envelope[J, R], c.bufferSize),
		results:         make(chan Result[J, R], c.resultBufSize),
		closing:         make(chan struct{}),
		slow:            make(chan struct{}, 1),
		stepAside:       make(chan struct{}, 1),
		bufferSize:      c.bufferSize,
		acceptAfterDone: acceptAfterDone,
		stats:           newCounters(shardFor),
	}
	p.jobCtx = &ownedCtx{Context: c.ctx, owner: p}
	p.bgJobCtx = &ownedCtx{Context: context.Background(), owner: p}
	if !acceptAfterDone {
		p.ctxDone = c.ctx.Done()
	}
	if c.ordered {
		p.order = newOrderer(p.results, &p.eng.limit)
	}
	p.eng.init(c.workers, &p.stats, p.startWorker)
	if a != nil {
		p.watchLimit(a, c.observer)
	}
	if c.idleTimeout > 0 {
		p.idle.d = c.idleTimeout
		p.idle.acks = make(chan bool)
		p.eng.onStart = p.watchIdle
	}
	return p
}

// Submit accepts v as a new job and returns its ID, blocking while the pool
// is full: every worker busy and the jobs buffer full.
//
// On failure it returns 0 and: ctx.Err() if ctx ends first (an already done
// ctx fails at once); [ErrClosed] after [Pool.Close], also when Close is
// called while Submit waits; the pool context's error once that context is
// done. A failed Submit accepts nothing and uses up no ID.
//
// Submit is safe for concurrent use, also with Close. Calling it from inside
// a job can deadlock when the buffer is full and every worker does the same;
// use [Pool.TrySubmit] there. Panics if ctx is nil.
//
// Submit repeats submit's few lines rather than calling it: a Submit blocked
// waiting for its turn must fit in a new goroutine's starting stack, and a
// frame more does not under coverage instrumentation
// (TestBlockedSubmitFitsTheStartingStack).
func (p *Pool[J, R]) Submit(ctx context.Context, v J) (uint64, error) {
	if ctx == nil {
		panic("workerpool: Submit: nil Context")
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	e := envelope[J, R]{job: Job[J]{Value: v}, accepted: p.run.stamp()}
	if p.mayHaveRoom() && p.mu.TryLock() {
		id, err, done := p.offerLocked(ctx, &e, false)
		p.mu.Unlock()
		if done {
			return id, err
		}
	}
	return p.submitSlow(ctx, &e)
}

// submit is Submit for a job whose Result goes to the sink with handle to
// (Do, Pool.Map), whose callers check ctx for nil.
//
// The envelope is made here, once, and passed down by pointer: on the path of
// a blocked Submit every frame counts, so that it fits the starting stack
// (TestBlockedSubmitFitsTheStartingStack).
func (p *Pool[J, R]) submit(ctx context.Context, v J, to uint64) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	e := envelope[J, R]{job: Job[J]{Value: v}, accepted: p.run.stamp(), to: to}
	if p.mayHaveRoom() && p.mu.TryLock() {
		id, err, done := p.offerLocked(ctx, &e, false)
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
// the buffer full, Submit skips its fast path.
func (p *Pool[J, R]) mayHaveRoom() bool {
	return p.bufferSize == 0 || len(p.jobs) < p.bufferSize
}

// submitSlow is Submit when the pool may be full or mu is contended: it
// takes its turn among the waiting submitters, then offers e, waiting in the
// send under mu while the pool is full.
//
// Each wait is a call of its own, so that a Submit blocked in one holds a
// single select on its stack: a goroutine that calls Submit fits in its
// starting stack (see TestBlockedSubmitFitsTheStartingStack).
func (p *Pool[J, R]) submitSlow(ctx context.Context, e *envelope[J, R]) (uint64, error) {
	select {
	case p.slow <- struct{}{}: // the turn is free: no need to wait for it
	default:
		if err := p.waitTurn(ctx); err != nil {
			return 0, err
		}
	}
	defer func() { <-p.slow }()
	for {
		p.mu.Lock()
		id, err, done := p.offerLocked(ctx, e, true)
		p.mu.Unlock()
		if done {
			return id, err
		}
		// It stepped aside for a TrySubmit or an inline Do (see lock), which
		// must have mu before the Submit takes it back.
		for p.wanting.Load() > 0 {
			runtime.Gosched()
		}
	}
}

// waitTurn takes the turn among waiting submitters (slow), or returns why the
// Submit gives up first: ctx's error, ErrClosed, or the pool context's error.
// It and sendWaiting are near copies on purpose: a waiting Submit holds one
// small select on its stack (see TestBlockedSubmitFitsTheStartingStack).
func (p *Pool[J, R]) waitTurn(ctx context.Context) error {
	select {
	case p.slow <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.closing:
		return ErrClosed
	case <-p.ctxDone:
		return p.ctx.Err()
	}
}

// errStepAside is what sendWaiting returns when a TrySubmit or an inline Do
// asks for mu: the Submit lets go of it and offers again.
var errStepAside = errors.New("workerpool: step aside")

// sendWaiting sends e on a full pool, under mu, waiting for a worker to take
// a job, or returns why it stops first: ctx's error, ErrClosed, the pool
// context's error, or errStepAside. It is the only wait for a job to finish
// that happens under mu, and it lets go of mu for whoever asks (see lock).
func (p *Pool[J, R]) sendWaiting(ctx context.Context, e *envelope[J, R]) error {
	select {
	case p.jobs <- *e:
		return nil
	case <-p.stepAside:
		return errStepAside
	case <-ctx.Done():
		return ctx.Err()
	case <-p.closing:
		return ErrClosed
	case <-p.ctxDone:
		return p.ctx.Err()
	}
}

// lock takes mu for a caller that must not wait for a job to finish
// (TrySubmit, an inline Do): a Submit blocked under mu on a full pool steps
// aside for it, and waits until every caller of lock counted in wanting has
// had mu before it takes mu back. (sync.Mutex lets a goroutine that locks
// take the mutex before a waiter it has woken: without the wait, the Submit
// took mu straight back and blocked again, and the caller waited for a job
// to finish.) A request left over from a holder that was not blocked only
// makes the next blocked Submit offer once more.
func (p *Pool[J, R]) lock() {
	if p.mu.TryLock() {
		return
	}
	p.wanting.Add(1) // before the request, so a Submit that gets it sees the count
	select {
	case p.stepAside <- struct{}{}:
	default: // a request is pending already
	}
	p.mu.Lock()
	p.wanting.Add(-1)
}

// TrySubmit accepts v as a new job unless the pool is full, and returns its
// ID. The pool is full when every one of its N workers is busy (running a job
// or handing over its Result) and the jobs buffer is full; with
// [WithBufferSize](0), when every worker is busy. A pool below its limit
// starts a worker for the job. TrySubmit never waits for a job to finish: at
// most for the acceptance lock, which a Submit waiting for room lets go of
// for it, and for a free worker to be scheduled.
//
// On failure it returns 0 and [ErrQueueFull] when the pool is full,
// [ErrClosed] after [Pool.Close], or the pool context's error once that is
// done. A failed TrySubmit accepts nothing and uses up no ID.
//
// TrySubmit is safe for concurrent use, also from inside a job.
func (p *Pool[J, R]) TrySubmit(v J) (uint64, error) {
	return p.trySubmit(v, 0)
}

// trySubmit is TrySubmit for a job whose Result goes to the sink with handle
// to (0: Results).
func (p *Pool[J, R]) trySubmit(v J, to uint64) (uint64, error) {
	e := envelope[J, R]{job: Job[J]{Value: v}, accepted: p.run.stamp(), to: to}
	p.lock()
	id, err, done := p.offerLocked(context.Background(), &e, false)
	p.mu.Unlock()
	if !done {
		return 0, ErrQueueFull
	}
	return id, err
}

// offerLocked accepts the job in e, made when its Submit began. It gives e
// its ID and, in an ordered pool, tells the orderer where the job stands
// among the Results (see orderer.mark) before anybody can take it. done
// reports whether the outcome is final; when it is not, nothing was
// accepted: the pool is full and wait is false (TrySubmit, or Submit's fast
// path), or the Submit stepped aside.
//
// The job is counted on a free worker before it is sent (engine.claim). A
// send that would block goes ahead at once when room is certain to come
// without any job finishing (engine.roomComing): then it waits only for the
// scheduler. Otherwise the pool is full, and only with wait (a Submit that
// has its turn) does it wait, in the send (sendWaiting) until ctx ends, its
// job counted as waiting all along.
func (p *Pool[J, R]) offerLocked(ctx context.Context, e *envelope[J, R], wait bool) (id uint64, err error, done bool) {
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
	prevMarked, marked := p.markLocked(e)
	p.eng.claim()
	select {
	case p.jobs <- *e:
	default:
		if p.eng.roomComing(p.bufferSize) {
			p.jobs <- *e // free workers on their way make room: see engine.roomComing
			break
		}
		if wait {
			err = p.sendWaiting(ctx, e)
		}
		if !wait || err != nil {
			p.eng.unclaim()
			if marked { // no job of that mark was accepted: it must not stay
				p.order.unmark()
				p.marked = prevMarked
			}
			if err == errStepAside {
				err = nil
			}
			return 0, err, err != nil
		}
	}
	// Sends happen only under mu, so an empty buffer after this one means
	// that a worker has taken its job already: nothing is left to cover, and
	// the common case of a pool that keeps up skips reading every shard.
	if p.eng.below() && len(p.jobs) > 0 {
		p.eng.cover()
	}
	p.submitted.Store(id)
	if p.order != nil && e.to != 0 {
		p.skips++
	}
	return id, nil, true
}

// markLocked gives the orderer a mark for the job in e if it is a Result's
// job and the count of jobs whose Results go elsewhere has changed since the
// last mark. It reports whether it did, and the count at the mark before.
func (p *Pool[J, R]) markLocked(e *envelope[J, R]) (prev uint64, marked bool) {
	if p.order == nil || e.to != 0 || p.skips == p.marked {
		return 0, false
	}
	p.order.mark(e.job.ID, p.skips)
	prev, p.marked = p.marked, p.skips
	return prev, true
}

// startWorker starts a worker goroutine; the engine calls it, with its counts
// raised, at place chain in a chain of starts.
func (p *Pool[J, R]) startWorker(chain int) {
	p.wg.Add(1)
	go p.work(chain)
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
		p.mu.Lock() // a send under mu waits only for a free worker
		p.closed = true
		close(p.jobs)
		p.mu.Unlock()
		p.eng.stop()
		p.stopIdle()
		go func() {
			p.wg.Wait()
			close(p.results)
		}()
	})
}

// Stats returns a snapshot of the pool's counters. It takes no lock, costs a
// few atomic loads and is safe to call at any time, also after Close.
func (p *Pool[J, R]) Stats() Stats {
	// Read in the reverse order of the updates (a job is accepted, taken,
	// finished, then counted as failed), so the snapshot never shows more
	// jobs in a later state than in an earlier one.
	panicked := p.stats.sum(func(s *shard) *atomic.Uint64 { return &s.panicked })
	failed := p.stats.sum(func(s *shard) *atomic.Uint64 { return &s.failed })
	completed := p.stats.sum(func(s *shard) *atomic.Uint64 { return &s.finished })
	// Workers waiting in awaitSlot have taken their job but do not run it.
	parked := uint64(max(p.eng.parked.Load(), 0))
	started := p.stats.sum(func(s *shard) *atomic.Uint64 { return &s.taken })
	live := max(p.eng.live.Load(), 0)
	// A worker can take a job in the moment between its send and the
	// submitter recording the ID.
	submitted := max(p.submitted.Load(), started)
	// A reader descheduled between the loads above sees started grown past
	// what was running when it read completed: Running is bounded by the
	// workers alive, which is what it counts.
	running := min(started-min(completed+parked, started), uint64(live))
	return Stats{
		Workers:   int(p.eng.limit.Load()),
		Live:      int(live),
		Running:   int(running),
		Queued:    int(submitted - completed - running),
		Submitted: submitted,
		Completed: completed,
		Failed:    failed,
		Panicked:  panicked,
	}
}
