package workerpool

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// limitHarness drives an adaptive limit by hand: one shard, calls recorded
// one at a time with a tick after each as a worker makes it, and every
// change kept. Run it inside synctest, so that the clock stands still.
type limitHarness struct {
	a       *adaptive
	counts  counters
	limit   atomic.Int64
	busy    bool
	changes []limitMove
	calls   int // recorded so far
}

type limitMove struct {
	at       int // the call after which it happened, counted from 1
	old, new int64
	reason   string
}

func newLimitHarness(min, max, start int64) *limitHarness {
	h := &limitHarness{busy: true, counts: counters{shards: make([]shard, 1)}}
	h.limit.Store(start)
	h.a = &adaptive{min: min, max: max, limit: &h.limit, counts: &h.counts, slowStart: true}
	h.a.set = func(n int) { h.limit.Store(int64(n)) }
	h.a.busy = func() bool { return h.busy }
	h.a.notify = func(old, new int, reason string) {
		h.changes = append(h.changes, limitMove{h.calls, int64(old), int64(new), reason})
	}
	return h
}

// feed records n calls that ran for d and returned err, ticking when a
// worker would, and returns the changes they made.
func (h *limitHarness) feed(n int, d time.Duration, err error) []limitMove {
	return h.feedCtx(n, d, err, context.Background())
}

// feedCtx is feed with the calls' own context ctx, derived from
// context.Background().
func (h *limitHarness) feedCtx(n int, d time.Duration, err error, ctx context.Context) []limitMove {
	from := len(h.changes)
	sh := &h.counts.shards[0]
	for range n {
		h.a.record(sh, d, err, ctx, context.Background())
		h.calls++
		if h.a.due(sh) {
			h.a.tick()
		}
	}
	return h.changes[from:]
}

func TestAdaptiveDueEveryEighthCall(t *testing.T) {
	a := &adaptive{}
	var sh shard
	var due []uint64
	for range 24 {
		sh.calls.Add(1)
		if a.due(&sh) {
			due = append(due, sh.calls.Load())
		}
	}
	assert.Equal(t, []uint64{8, 16, 24}, due)
}

// Slow start: windows of max(32, 2L) calls, and the limit × 1.5 after each
// while calls take the baseline and every worker is busy.
func TestAdaptiveSlowStartWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLimitHarness(1, 256, 4)
		assert.Empty(t, h.feed(31, time.Millisecond, nil))
		assert.Equal(t, []limitMove{{32, 4, 6, "demand"}}, h.feed(1, time.Millisecond, nil))
		assert.Equal(t, []limitMove{{64, 6, 9, "demand"}, {96, 9, 13, "demand"}, {128, 13, 19, "demand"}},
			h.feed(96, time.Millisecond, nil))
		// 2L = 38 calls: the next window closes at the first tick after it.
		assert.Equal(t, []limitMove{{168, 19, 28, "demand"}}, h.feed(40, time.Millisecond, nil))
	})
}

// A pool with fewer callers than workers does not grow.
func TestAdaptiveGrowsOnlyWhenBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLimitHarness(1, 256, 4)
		h.busy = false
		assert.Empty(t, h.feed(1000, time.Millisecond, nil))
		assert.Equal(t, int64(4), h.limit.Load())
	})
}

// After the first cut: windows of max(128, 8L) calls; growth is
// +max(1, L/16), doubling while it goes on; a cut skips the L calls that
// began at the old limit; and an overload signal counts in its own window
// only.
func TestAdaptiveWindowsAfterTheFirstCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLimitHarness(1, 256, 15)
		h.a.slowStart = false
		h.a.lastProbe = time.Now() // no probe
		require.Empty(t, h.feed(127, time.Millisecond, nil))
		// The first window sets the baseline; the limit grows by 1.
		require.Equal(t, []limitMove{{128, 15, 16, "demand"}}, h.feed(1, time.Millisecond, nil))
		// An overloaded call in the next window cuts at once, when the
		// window has 16 calls (an alarm): 16 - 16/4.
		moves := h.feed(16, time.Millisecond, Overloaded(errors.New("503")))
		require.Equal(t, []limitMove{{144, 16, 12, "overloaded"}}, moves)
		// The next 16 calls are skipped, then a clean window of 128 calls:
		// growth again, not another cut.
		require.Empty(t, h.feed(16+127, time.Millisecond, nil))
		require.Equal(t, []limitMove{{288, 12, 13, "demand"}}, h.feed(1, time.Millisecond, nil))
		// Growing on by 2, up to 15: for ceilingFor it stays below the 16
		// that was cut.
		require.Equal(t, []limitMove{{416, 13, 15, "demand"}}, h.feed(256, time.Millisecond, nil))
		time.Sleep(ceilingFor)
		// The window at 544 was held below the ceiling, which starts the
		// steps again from 1: +1, then +2.
		require.Equal(t, []limitMove{{672, 15, 16, "demand"}, {800, 16, 18, "demand"}},
			h.feed(256, time.Millisecond, nil))
		// 8 × 18 = 144-call windows now: +4.
		require.Equal(t, []limitMove{{944, 18, 22, "demand"}}, h.feed(144, time.Millisecond, nil))
	})
}

// Calls a little over the baseline hold the limit; over cutAbove twice in a
// row bring it down to L/√ratio; twice the baseline or more, to L/ratio at
// once.
func TestAdaptiveLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLimitHarness(1, 256, 16)
		h.a.slowStart = false
		h.a.lastProbe = time.Now()
		require.Len(t, h.feed(128, time.Millisecond, nil), 1) // the baseline; 16 → 17
		// 1.15 × the baseline: held.
		require.Empty(t, h.feed(136*3, 1150*time.Microsecond, nil))
		// 1.3 × the baseline: held for one window, cut after the second,
		// to 17/√1.3 = 14.9.
		require.Empty(t, h.feed(136, 1300*time.Microsecond, nil))
		moves := h.feed(136, 1300*time.Microsecond, nil)
		require.Equal(t, []limitMove{{h.calls, 17, 15, "latency"}}, moves)
		// 1.3 × once more, after the 17 calls of the old limit: held, the
		// window before it having been the cut's.
		require.Empty(t, h.feed(24+128, 1300*time.Microsecond, nil))
		// 4 × the baseline: an alarm after 16 calls; 15/4 = 3.75 → 4.
		moves = h.feed(16, 4*time.Millisecond, nil)
		require.Equal(t, []limitMove{{h.calls, 15, 4, "latency"}}, moves)
	})
}

// A job timeout is a call whose own context ended while its parent's did
// not; an error with neither, or with the parent ended, is not.
func TestAdaptiveRecordsTimeouts(t *testing.T) {
	a := &adaptive{}
	var sh shard
	parent := context.Background()
	live, cancelLive := context.WithTimeout(parent, time.Hour)
	defer cancelLive()
	ended, cancel := context.WithCancel(parent)
	cancel()
	gone, cancelGone := context.WithCancel(parent)
	cancelGone()
	endedToo, cancelToo := context.WithCancel(gone)
	defer cancelToo()
	failed := errors.New("failed")

	a.record(&sh, time.Millisecond, failed, live, parent)
	a.record(&sh, time.Millisecond, failed, parent, parent)
	a.record(&sh, time.Millisecond, failed, endedToo, gone)
	a.record(&sh, time.Millisecond, nil, ended, parent)
	assert.Zero(t, sh.timedOut.Load())
	a.record(&sh, time.Millisecond, failed, ended, parent)
	assert.Equal(t, uint64(1), sh.timedOut.Load())
	a.record(&sh, time.Millisecond, Overloaded(failed), ended, parent)
	assert.Equal(t, uint64(1), sh.timedOut.Load(), "overloaded, not a timeout")
	assert.Equal(t, uint64(1), sh.overloaded.Load())
	assert.Equal(t, uint64(6), sh.calls.Load())
	assert.Equal(t, uint64(6*time.Millisecond), sh.callNs.Load())
}

// A probe every probeEvery halves the limit for a window. Calls that get
// faster at half the limit were queued: their mean is the baseline. Calls
// that do not were slower in themselves: that is the new baseline, and the
// limit stops falling for them.
func TestAdaptiveProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLimitHarness(1, 256, 16)
		h.a.slowStart = false
		require.Equal(t, []limitMove{{128, 16, 17, "demand"}}, h.feed(128, time.Millisecond, nil))
		require.Empty(t, h.feed(136, 1150*time.Microsecond, nil)) // held: grown is 0 again
		time.Sleep(probeEvery)
		require.Equal(t, []limitMove{{400, 17, 8, "probe"}}, h.feed(136, 1150*time.Microsecond, nil))
		// 17 calls skipped, then a window of 128 at half the limit as slow
		// as before: the calls are slower in themselves.
		moves := h.feed(24+128, 1150*time.Microsecond, nil)
		require.Equal(t, []limitMove{{552, 8, 17, "probe"}}, moves)
		assert.InDelta(t, float64(1150*time.Microsecond), h.a.baseline, 1)
		// So 1.15 ms calls now let it grow.
		require.Equal(t, []limitMove{{688, 17, 18, "demand"}}, h.feed(136, 1150*time.Microsecond, nil))

		// Another probe, whose calls get faster: the baseline is theirs.
		require.Empty(t, h.feed(144, 1300*time.Microsecond, nil)) // held
		time.Sleep(probeEvery)
		require.Equal(t, []limitMove{{976, 18, 9, "probe"}}, h.feed(144, 1300*time.Microsecond, nil))
		moves = h.feed(24+128, 900*time.Microsecond, nil)
		require.Equal(t, []limitMove{{1128, 9, 18, "probe"}}, moves)
		assert.InDelta(t, float64(900*time.Microsecond), h.a.baseline, 1)
	})
}

// At min the limit cannot fall: calls that stay slow there become the
// baseline. Below probeFrom there is no probe.
func TestAdaptiveAtTheFloor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLimitHarness(4, 256, 4)
		h.a.slowStart = false
		require.Equal(t, []limitMove{{128, 4, 5, "demand"}}, h.feed(128, time.Millisecond, nil))
		time.Sleep(probeEvery)
		require.Equal(t, []limitMove{{144, 5, 4, "latency"}}, h.feed(16, 10*time.Millisecond, nil))
		assert.Empty(t, h.feed(8+128, 10*time.Millisecond, nil), "no probe below probeFrom, no cut below min")
		assert.InDelta(t, float64(10*time.Millisecond), h.a.baseline, 1)
	})
}

// A call that runs into the job timeout raises the alarm as an overloaded
// one does; a probe's window is never closed early, however slow.
func TestAdaptiveTimeoutAlarmAndProbeWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLimitHarness(1, 256, 16)
		h.a.slowStart = false
		require.Len(t, h.feed(128, time.Millisecond, nil), 1)     // 16 → 17
		ended, cancel := context.WithCancel(context.Background()) // as a job timeout ends it
		cancel()
		moves := h.feedCtx(16, time.Millisecond, context.DeadlineExceeded, ended)
		require.Equal(t, []limitMove{{144, 17, 13, "timeout"}}, moves)

		time.Sleep(probeEvery)
		require.Empty(t, h.feed(24+127, 1150*time.Microsecond, nil)) // 17 skipped (by the tick at 168), then held
		require.Equal(t, []limitMove{{296, 13, 6, "probe"}}, h.feed(1, 1150*time.Microsecond, nil))
		// Three times the baseline at half the limit: no alarm in a probe's
		// window; it ends after 128 calls (and 13 skipped by the tick at
		// 312).
		require.Empty(t, h.feed(16+127, 3*time.Millisecond, nil))
		require.Equal(t, []limitMove{{440, 6, 13, "probe"}}, h.feed(1, 3*time.Millisecond, nil))
	})
}

// One fast window moves the baseline a quarter of the way (smoothing), and a
// cut never takes more than three quarters of the limit at once.
func TestAdaptiveSmoothingAndTheDeepestCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLimitHarness(1, 256, 16)
		h.a.slowStart = false
		h.a.lastProbe = time.Now()
		require.Len(t, h.feed(128, time.Millisecond, nil), 1) // 16 → 17
		h.busy = false                                        // no growth from here on
		require.Empty(t, h.feed(136, 500*time.Microsecond, nil))
		assert.InDelta(t, float64(875*time.Microsecond), h.a.baseline, 1, "1 ms + (0.5 ms − 1 ms)/4")
		// 8 × the baseline: 17/8 → 2, but at most ÷ 4: 17/4 → 4.
		moves := h.feed(16, 7*time.Millisecond, nil)
		require.Equal(t, []limitMove{{h.calls, 17, 4, "latency"}}, moves)
	})
}

// The first cut ends slow start, and a probe follows at the next busy
// window: the start may have measured a congested baseline.
func TestAdaptiveProbeAfterSlowStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLimitHarness(1, 256, 8)
		require.Equal(t, []limitMove{{32, 8, 12, "demand"}}, h.feed(32, time.Millisecond, nil))
		moves := h.feed(16, 3*time.Millisecond, nil) // an alarm: 12/3 = 4
		require.Equal(t, []limitMove{{48, 12, 4, "latency"}}, moves)
		require.False(t, h.a.slowStart)
		// 12 calls skipped (the tick at 64), then a window of 128 at the
		// baseline: below probeFrom, so it grows instead.
		require.Equal(t, []limitMove{{192, 4, 5, "demand"}}, h.feed(144, time.Millisecond, nil))
		// A held window, then (as if a Resize had set it) a limit of 8,
		// from which a probe is due: it comes first.
		require.Empty(t, h.feed(128, 1150*time.Microsecond, nil))
		h.a.limit.Store(8)
		require.Equal(t, []limitMove{{448, 8, 4, "probe"}}, h.feed(128, 1150*time.Microsecond, nil))
	})
}

// The rules' boundaries, met exactly: a mean of twice the baseline is no
// alarm (only more is) but divides the limit by the whole ratio; and growth
// that would land exactly on the limit that was cut is held below it.
func TestAdaptiveExactBoundaries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLimitHarness(1, 256, 15)
		h.a.slowStart = false
		h.a.lastProbe = time.Now() // no probe: the clock stands still
		require.Equal(t, []limitMove{{128, 15, 16, "demand"}}, h.feed(128, time.Millisecond, nil))
		// Exactly 2 × the baseline: no early close after 16 calls, and at
		// the end of the window 16/2 = 8, not 16/√2 = 11.3.
		require.Empty(t, h.feed(127, 2*time.Millisecond, nil), "2 × the baseline is no alarm")
		require.Equal(t, []limitMove{{256, 16, 8, "latency"}}, h.feed(1, 2*time.Millisecond, nil))

		h = newLimitHarness(1, 256, 16)
		h.a.slowStart = false
		h.a.lastProbe = time.Now()
		require.Len(t, h.feed(128, time.Millisecond, nil), 1) // 16 → 17
		moves := h.feed(16, time.Millisecond, Overloaded(errors.New("503")))
		require.Equal(t, []limitMove{{144, 17, 13, "overloaded"}}, moves) // the ceiling is 17
		// After the 17 calls skipped: +1 to 14, +2 to 16, then +4 would
		// pass 17 and is held at 16, which starts the steps again: +1 would
		// be 17, the ceiling itself, and is held too.
		moves = h.feed(24+128*4, time.Millisecond, nil)
		require.Equal(t, []limitMove{{296, 13, 14, "demand"}, {424, 14, 16, "demand"}}, moves)
		assert.Equal(t, int64(16), h.limit.Load())
	})
}

// A little over the baseline at a small limit still cuts by one: L/√ratio
// rounds back to L there, and the cut is at least one.
func TestAdaptiveSmallLimitCutsByOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLimitHarness(1, 256, 3)
		h.a.slowStart = false
		require.Equal(t, []limitMove{{128, 3, 4, "demand"}}, h.feed(128, time.Millisecond, nil))
		require.Empty(t, h.feed(128, 1300*time.Microsecond, nil), "the first window over: held")
		// 4/√1.3 + 0.5 = 4.0: rounded, no cut at all but for the floor of one.
		require.Equal(t, []limitMove{{384, 4, 3, "latency"}}, h.feed(128, 1300*time.Microsecond, nil))
	})
}

// A probe whose calls take exactly probeSame of what they took before it
// found them queued: the baseline falls to theirs, and the smoothed mean is
// left as it was (only calls slower in themselves reset it).
func TestAdaptiveProbeAtProbeSame(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newLimitHarness(1, 256, 16)
		h.a.slowStart = false
		require.Equal(t, []limitMove{{128, 16, 17, "demand"}}, h.feed(128, time.Millisecond, nil))
		require.Empty(t, h.feed(136, 1125*time.Microsecond, nil)) // held
		time.Sleep(probeEvery)
		require.Equal(t, []limitMove{{400, 17, 8, "probe"}}, h.feed(136, 1125*time.Microsecond, nil))
		smooth := h.a.smooth
		// 0.9 ms = 0.8 × 1.125 ms, exactly.
		require.Equal(t, []limitMove{{552, 8, 17, "probe"}}, h.feed(24+128, 900*time.Microsecond, nil))
		assert.InDelta(t, float64(900*time.Microsecond), h.a.baseline, 1)
		assert.Equal(t, smooth, h.a.smooth, "queued calls leave the smoothed mean alone")
	})
}
