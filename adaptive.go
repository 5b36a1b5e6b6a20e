package workerpool

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// WithAdaptiveLimit lets the pool move its worker limit between min and max
// (1 <= min <= max) on its own, from the run times and the overload signals
// of its jobs. The limit starts at WithWorkers' value, clamped into
// [min, max].
//
// The pool times every call of the Func. It lowers the limit when the calls
// of the last window take well longer than the pool's baseline (the backend
// queues them), when a call ends with an error marked with [Overloaded], or
// when a call runs into the job timeout ([WithJobTimeout]); it raises the
// limit while every worker is busy and the calls take as long as the
// baseline. A pool that runs no jobs keeps its limit. docs/design.md
// describes the algorithm and its constants.
//
// [Pool.Stats] reports the current limit as Workers, and an [Observer] that
// also implements [LimitObserver] is told of every change. [Pool.Resize] on
// an adaptive pool sets the limit to its argument clamped into [min, max],
// and the pool adapts from there. [Map] runs a fixed number of workers: the
// starting limit.
//
// Panics if min < 1 or max < min.
func WithAdaptiveLimit(min, max int) Option {
	if min < 1 || max < min {
		invalid("WithAdaptiveLimit", fmt.Sprintf("%d, %d", min, max), "bounds must satisfy 1 <= min <= max")
	}
	return func(c *config) { c.adaptMin, c.adaptMax = min, max }
}

// LimitObserver is an optional interface of an [Observer]: a pool with
// [WithAdaptiveLimit] whose Observer also implements it tells it of every
// change of the limit.
type LimitObserver interface {
	// LimitChanged reports that the limit moved from old to new, for reason:
	//   - "latency": calls took well longer than the baseline;
	//   - "overloaded": a call failed with an error marked with [Overloaded];
	//   - "timeout": a call ran into the job timeout;
	//   - "demand": every worker was busy and calls took the baseline;
	//   - "probe": the limit is halved for one window to measure the
	//     baseline afresh, and restored after it.
	// It is called from a worker goroutine between two jobs, one call at a
	// time, and must be fast. A panic in it is recovered, and the Result of
	// the job the worker just ran carries it, joined to the job's error.
	LimitChanged(old, new int, reason string)
}

// Overloaded marks err as a sign that the backend a job calls is overloaded
// (an HTTP 429 or 503, PostgreSQL's too_many_connections): a pool with
// [WithAdaptiveLimit] lowers its limit when a call returns it. The returned
// error's message is err's, errors.Is and errors.As see through it to err,
// and [WithRetry] retries it as any other error. Overloaded(nil) is nil.
func Overloaded(err error) error {
	return withMark[overloadedMark](err)
}

// The constants of the adaptive limit; docs/design.md says why each.
const (
	// minWindow is the fewest calls a window holds; a window holds at least
	// windowPerLimit calls per unit of the limit besides.
	minWindow      = 128
	windowPerLimit = 8
	// earlyWindow is the fewest calls that can close a window early (see
	// alarming).
	earlyWindow = 16
	// growBelow and cutAbove bound the ratio of a window's mean run time to
	// the baseline: below growBelow a busy pool raises its limit, above
	// cutAbove it lowers it, and in between it holds.
	growBelow = 1.1
	cutAbove  = 1.2
	// confirmBelow: a window whose ratio is above cutAbove but below it
	// cuts only if the window before it was as high; alarmRatio: from it on
	// (twice the baseline, see alarming) a cut divides by the whole ratio.
	confirmBelow = 1.5
	alarmRatio   = 2
	// smoothing is the weight of a new window in the smoothed run time
	// whose lowest value is the baseline between probes.
	smoothing = 0.25
	// probeEvery is how often a busy pool halves its limit for a window to
	// measure the baseline afresh.
	probeEvery = 5 * time.Second
	// probeFrom is the lowest limit that probes: below it, a limit that
	// would queue calls in the backend shows it in their run time anyway.
	probeFrom = 8
	// probeSame is the ratio of the mean run time at half the limit to the
	// one before above which the probe finds the calls slower in themselves
	// rather than queued: queued calls would take about half as long.
	probeSame = 0.8
	// ceilingFor is how long growth stays below a limit that was cut.
	ceilingFor = 250 * time.Millisecond
)

// adaptive moves a pool's limit (WithAdaptiveLimit). The workers record each
// call of the Func on their shard (record): its run time, and whether it
// signalled overload. Every few calls a worker tries to close a window
// (tick): once the shards hold a window's worth of calls since the last one,
// it compares their mean run time with the baseline and sets the limit.
// Nothing is locked per call; tick takes mu with TryLock, so that one worker
// at a time decides and the others go on.
type adaptive struct {
	min, max int64
	limit    *atomic.Int64 // the engine's
	counts   *counters
	// set applies a new limit (the pool's setLimit); busy reports whether
	// every worker is busy (the pool is at its limit and wants more).
	set    func(n int)
	busy   func() bool
	notify func(old, new int, reason string) // nil: none

	mu sync.Mutex // TryLock: the worker that closes a window
	// Guarded by mu.
	seen      window  // the shards' sums at the end of the last window
	smooth    float64 // smoothed mean run time, ns; 0 before the first window
	baseline  float64 // ns; 0 before the first window
	skip      int64   // > 0: this many calls are discarded after a cut, begun at the old limit
	probing   int64   // > 0: the window measures the baseline; the limit to restore
	lastProbe time.Time
	probeRTT  float64 // the mean run time of the window before the probe
	high      bool    // the last window was a little over cutAbove
	// slowStart raises the limit by half on demand until the first cut.
	slowStart bool
	grown     int // windows in a row that raised the limit; each step doubles
	// Growth stays below ceiling, a limit that was cut, until ceilingUntil.
	ceiling      int64
	ceilingUntil time.Time
}

// window is what the calls of a window add up to.
type window struct {
	calls, ns, overloaded, timedOut uint64
}

func (w window) minus(o window) window {
	return window{w.calls - o.calls, w.ns - o.ns, w.overloaded - o.overloaded, w.timedOut - o.timedOut}
}

// record counts one call of the Func that ran for d on the worker's shard
// sh. ctx is the call's context and parent the context it was derived from
// for the job timeout, if any: a call whose context ended while its parent's
// did not ran into the job timeout.
func (a *adaptive) record(sh *shard, d time.Duration, err error, ctx, parent context.Context) {
	if err != nil {
		if hasMark[overloadedMark](err) {
			sh.overloaded.Add(1)
		} else if ctx != parent && ctx.Err() != nil && parent.Err() == nil {
			sh.timedOut.Add(1)
		}
	}
	sh.callNs.Add(uint64(max(d, 0)))
	sh.calls.Add(1)
}

// due reports whether a worker whose shard is sh should try to close a
// window: every eighth call on a shard.
func (a *adaptive) due(sh *shard) bool {
	return sh.calls.Load()%8 == 0
}

// sum adds up the shards' calls.
func (a *adaptive) sum() window {
	var w window
	for i := range a.counts.shards {
		s := &a.counts.shards[i]
		w.calls += s.calls.Load()
		w.ns += s.callNs.Load()
		w.overloaded += s.overloaded.Load()
		w.timedOut += s.timedOut.Load()
	}
	return w
}

// tick closes a window if the shards hold enough calls since the last one,
// and moves the limit as decide says. It never waits: another worker
// deciding now makes it return.
func (a *adaptive) tick() {
	if !a.mu.TryLock() {
		return
	}
	defer a.mu.Unlock()
	limit := a.limit.Load()
	now := a.sum()
	w := now.minus(a.seen)
	if a.skip > 0 {
		// The calls that ran at the old limit are not the new one's.
		if w.calls >= uint64(a.skip) {
			a.seen, a.skip = now, 0
		}
		return
	}
	size := max(minWindow, windowPerLimit*limit)
	if a.slowStart {
		size = max(2*earlyWindow, 2*limit) // coarse and quick until the first cut
	}
	full := w.calls >= uint64(size)
	if !full && !a.alarming(w) {
		return
	}
	a.seen = now
	next, reason := a.decide(w, limit, time.Now())
	if next == limit {
		return
	}
	if next < limit {
		a.skip = limit
	}
	a.set(int(next))
	if a.notify != nil {
		a.notify(int(limit), int(next), reason)
	}
}

// alarming reports whether the calls of an unfinished window w already say
// that the limit must come down: they signalled overload, or took more than
// twice the baseline on average. Then the window closes early: the fewer
// calls a backend in trouble gets before the limit falls, the better.
func (a *adaptive) alarming(w window) bool {
	if w.calls < earlyWindow || a.baseline == 0 || a.probing > 0 {
		return false
	}
	return w.overloaded > 0 || w.timedOut > 0 || float64(w.ns) > alarmRatio*a.baseline*float64(w.calls)
}

// decide returns the limit after window w, closed at now with the limit at
// limit, and the reason for a change.
func (a *adaptive) decide(w window, limit int64, now time.Time) (int64, string) {
	rtt := float64(w.ns) / float64(w.calls)
	if a.probing > 0 {
		// The window ran at half the limit. If the calls queued in the
		// backend, they are now faster: the baseline is what they take
		// without the queue. If they are as slow as before, they are slower
		// in themselves: that is the new baseline.
		restore := a.probing
		a.probing = 0
		if rtt > probeSame*a.probeRTT {
			a.baseline, a.smooth = rtt, rtt
		} else {
			a.baseline = min(a.baseline, rtt)
		}
		return a.clamp(restore), "probe"
	}
	if a.smooth == 0 {
		a.smooth, a.baseline, a.lastProbe = rtt, rtt, now
	}
	a.smooth += smoothing * (rtt - a.smooth)
	a.baseline = min(a.baseline, a.smooth)
	ratio := rtt / a.baseline
	high := a.high
	a.high = false // set again below by a window a little over cutAbove
	var next int64
	var reason string
	switch {
	case w.overloaded > 0:
		next, reason = limit-max(1, limit/4), "overloaded"
	case w.timedOut > 0:
		next, reason = limit-max(1, limit/4), "timeout"
	case ratio > cutAbove && ratio < confirmBelow && !high:
		// A little over: noise, or the first sign. Cut if the next window
		// says so too.
		a.high = true
		return limit, ""
	case ratio > cutAbove && limit > a.min:
		// Calls wait in the backend. If it queues them, it serves L/ratio
		// at a time (Little's law); if it slows as it is overloaded, fewer.
		// Far over, the first is the likelier; a little over, dividing by
		// the root of the ratio lands between the two.
		div := ratio
		if ratio < alarmRatio {
			div = math.Sqrt(ratio)
		}
		next, reason = max(limit/4, min(limit-1, int64(float64(limit)/div+0.5))), "latency"
	case ratio > cutAbove:
		// At the lowest limit calls are still slow: slower in themselves.
		a.baseline, a.smooth = rtt, rtt
		return limit, ""
	case !a.busy():
		return limit, ""
	case now.Sub(a.lastProbe) >= probeEvery && limit >= probeFrom && limit > a.min && a.grown == 0:
		a.lastProbe = now
		a.probing, a.probeRTT = limit, rtt
		return a.clamp(limit / 2), "probe"
	case ratio < growBelow:
		if a.slowStart {
			next = limit + max(1, limit/2)
		} else {
			next = limit + max(1, limit/16)<<min(a.grown, 4)
		}
		a.grown++
		if now.Before(a.ceilingUntil) && next >= a.ceiling {
			next = max(limit, a.ceiling-1)
			a.grown = 0
		}
		reason = "demand"
	default:
		a.grown = 0
		return limit, ""
	}
	if next < limit {
		// Do not grow back into the limit that was too much for a while.
		if a.slowStart {
			a.slowStart = false
			a.lastProbe = now.Add(-probeEvery) // the start may have been congested
		}
		a.grown = 0
		a.ceiling, a.ceilingUntil = limit, now.Add(ceilingFor)
	}
	return a.clamp(next), reason
}

func (a *adaptive) clamp(n int64) int64 {
	return min(max(n, a.min), a.max)
}

// watchLimit connects the adaptive limit a to the pool, and to o if it is a
// LimitObserver.
func (p *Pool[J, R]) watchLimit(a *adaptive, o Observer) {
	a.limit = &p.eng.limit
	a.counts = &p.stats
	a.set = p.setLimit
	a.busy = func() bool { return p.eng.live.Load() >= p.eng.limit.Load() && p.eng.idle() <= 0 }
	if lo, ok := o.(LimitObserver); ok {
		a.notify = lo.LimitChanged
	}
}

// adapt lets the adaptive limit close a window after t's job ran. A panic in
// LimitObserver.LimitChanged is recovered into t's Result, as one in
// Observer.JobFinished is.
func (p *Pool[J, R]) adapt(t *task[J, R]) {
	defer func() {
		if v := recover(); v != nil {
			t.r.Err = errors.Join(t.r.Err, newPanicError(v))
		}
	}()
	p.run.adapt.tick()
}
