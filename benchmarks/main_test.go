package main

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

// TestMain checks for leaks, ignoring the goroutines that exist before any
// test: ants starts a default pool when it is imported.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}

// TestContendersDoAllTheWork runs every contender on a small batch, from one
// and from several submitters, and checks the count and checksum of its
// outputs, as the suite does on every run.
func TestContendersDoAllTheWork(t *testing.T) {
	w := Workload{Group: "tiny", N: 5000, Task: tiny}
	for _, c := range contenders {
		for _, submitters := range []int{1, 8} {
			t.Run(fmt.Sprintf("%s/submitters=%d", c.Name, submitters), func(t *testing.T) {
				count, sum := c.Run(w.N, 4, submitters, w.Task)
				if count == -1 {
					t.Skipf("%s has no API for %d submitters", c.Name, submitters)
				}
				if count != w.N || sum != w.Expected() {
					t.Fatalf("%d outputs summing to %d, want %d summing to %d", count, sum, w.N, w.Expected())
				}
			})
		}
	}
}

// TestHeadToHeadPairsRounds checks that the round-by-round table divides
// samples of the same round, and leaves out single rounds and contenders
// that are not peers.
func TestHeadToHeadPairsRounds(t *testing.T) {
	w := Workload{Name: "shape"}
	secs := func(ds ...float64) []Sample {
		ss := make([]Sample, len(ds))
		for i, d := range ds {
			ss[i].Wall = time.Duration(d * float64(time.Second))
		}
		return ss
	}
	res := results{"shape": {
		"workerpool-default": secs(1, 4, 2),
		"ants":               secs(2, 2, 4), // ratios 0.5, 2, 0.5
		"pond":               secs(1, 1, 1), // ratios 1, 4, 2
		"textbook":           secs(1, 1, 1), // not a peer
	}}
	got := headToHead(w, res)
	assert.Contains(t, got, "| ants | 0.50 | 0.50–2.00 | 2 of 3 |")
	assert.Contains(t, got, "| pond | 2.00 | 1.00–4.00 | 0 of 3 |")
	assert.NotContains(t, got, "textbook")

	res["shape"]["workerpool-default"] = secs(1)
	assert.Empty(t, headToHead(w, res), "one round has nothing to pair")
}

// TestChannelFloorPastItsWorkers checks the channel floor on a workload with
// more than 1,024 workers: skipped without -floor-workers, run with its
// worker count with it, and named with that count in the table.
func TestChannelFloorPastItsWorkers(t *testing.T) {
	identity := func(i int) int { return i } // the matrix tasks' output
	w := Workload{Name: "matrix/x", Group: "matrix", N: 5000, Workers: 200_000, Submitters: 1, Task: identity}
	count, _ := runChannelFloor(w.N, w.Workers, 1, w.Task)
	assert.Equal(t, -1, count, "without -floor-workers: not run")

	defer func(old int) { floorWorkers = old }(floorWorkers)
	floorWorkers = 3
	var inFlight, most atomic.Int64
	count, sum := runChannelFloor(w.N, w.Workers, 8, func(i int) int {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		runtime.Gosched() // lets other workers, if there were more, start a job meanwhile
		inFlight.Add(-1)
		return identity(i)
	})
	assert.Equal(t, w.N, count)
	assert.Equal(t, w.Expected(), sum)
	assert.LessOrEqual(t, most.Load(), int64(3), "no more jobs at once than its workers")

	s := Sample{Wall: time.Millisecond}
	res := results{w.Name: {"textbook": {s}, "channel-floor": {s}, "errgroup": {s}}}
	assert.Contains(t, report([]Workload{w}, res), "| channel-floor (3 workers) |")
}

// TestHeaderSaysHowItRan checks that the header quotes the command line and
// the rounds of the groups that ran.
func TestHeaderSaysHowItRan(t *testing.T) {
	defer func(old string) { command = old }(command)
	command = "go run . -only matrix -matrix-rounds 6"
	m := Workload{Name: "matrix/x", Group: "matrix"}
	s := Sample{Wall: time.Millisecond}
	h := header([]Workload{m}, results{m.Name: {"pond": {s, s, s, s, s, s}}})
	assert.Contains(t, h, "`cd benchmarks && go run . -only matrix -matrix-rounds 6`")
	assert.Contains(t, h, "medians of 6 rounds,")

	ti := Workload{Name: "tiny/x", Group: "tiny"}
	h = header([]Workload{ti, m}, results{ti.Name: {"pond": {s, s, s}}, m.Name: {"pond": {s}}})
	assert.Contains(t, h, "medians of 3 rounds (1 for the matrix),")

	iw := Workload{Name: "io/x", Group: "io"}
	h = header([]Workload{iw}, results{iw.Name: {"pond": {s, s, s, s}}})
	assert.Contains(t, h, "medians of 4 rounds,", "a run of a group other than tiny and the matrix")

	// The best peer is named from the peers that ran, in the contenders' order.
	assert.Contains(t, h, "the best peer is the fastest of pond on that row.")
	h = header([]Workload{m}, results{m.Name: {"errgroup": {s}, "textbook": {s}, "ants": {s}}})
	assert.Contains(t, h, "the best peer is the fastest of ants and errgroup on that row.")
	h = header([]Workload{ti, m}, results{ti.Name: {"gammazero": {s}, "pond": {s}}, m.Name: {"conc": {s}, "ants": {s}}})
	assert.Contains(t, h, "the best peer is the fastest of ants, pond, conc and gammazero on that row.")
	h = header([]Workload{m}, results{m.Name: {"textbook": {s}, "workerpool-default": {s}}})
	assert.Contains(t, h, "no peer ran, so there is no best peer.")
	assert.Contains(t, h, "medians of 1 round,", "one round is singular")
}

// TestSavedRunKeepsFloorWorkers checks that a report made with -load names
// the channel floor's worker count of the run that saved the samples.
func TestSavedRunKeepsFloorWorkers(t *testing.T) {
	defer func(old int) { floorWorkers = old }(floorWorkers)
	w := Workload{Name: "matrix/x", Group: "matrix", N: 10, Workers: 200_000, Submitters: 1}
	s := Sample{Wall: time.Millisecond}
	path := filepath.Join(t.TempDir(), "samples.json")
	floorWorkers = 64
	mustSave(path, []Workload{w}, results{w.Name: {"textbook": {s}, "channel-floor": {s}}})
	floorWorkers = 0
	res := mustLoad(path, []Workload{w})
	assert.Equal(t, 64, floorWorkers)
	r := report([]Workload{w}, res)
	assert.Contains(t, r, "| channel-floor (64 workers) |")
	assert.Contains(t, r, "**matrix/x** (10 jobs, 200000 workers, 1 submitter, 1 round)")
}

// TestRunCountsRoundsByGroup checks that each group runs its own number of
// rounds and that the progress lines count to the most any workload runs.
func TestRunCountsRoundsByGroup(t *testing.T) {
	defer func(old io.Writer) { progress = old }(progress)
	var out strings.Builder
	progress = &out
	m := Workload{Name: "matrix/x", Group: "matrix", N: 100, Workers: 4, Submitters: 1, Task: randTask}
	res := run([]Workload{m}, 3, 2)
	assert.Len(t, res[m.Name]["textbook"], 2)
	assert.Contains(t, out.String(), "round 2/2: matrix/x")
	assert.NotContains(t, out.String(), "/3", "a matrix-only run counts the matrix rounds")

	out.Reset()
	ti := Workload{Name: "tiny/x", Group: "tiny", N: 100, Workers: 4, Submitters: 1, Task: tiny}
	res = run([]Workload{ti, m}, 3, 1)
	assert.Len(t, res[ti.Name]["textbook"], 3)
	assert.Len(t, res[m.Name]["textbook"], 1)
	assert.Contains(t, out.String(), "round 3/3: tiny/x")
}

// TestSharedSummary checks the shared workloads' table: Do per call, against
// the reply textbook and the fastest shared peer, and nothing for the other
// workloads; and that every shared contender returns each caller's own
// outputs.
func TestSharedSummary(t *testing.T) {
	secs := func(d float64) []Sample { return []Sample{{Wall: time.Duration(d * float64(time.Second))}} }
	sh := Workload{Group: "shared", Name: "shared/tiny/x", N: 1000}
	other := Workload{Group: "cpu", Name: "cpu/y", N: 1000}
	res := results{
		sh.Name: {
			"workerpool-Do": secs(2), "reply-textbook": secs(4), "semaphore-floor": secs(0.5),
			"errgroup-wait": secs(1), "ants-wait": secs(8), "textbook": secs(0.1), // not of this group
		},
		other.Name: {"workerpool-default": secs(1), "textbook": secs(1), "pond": secs(1)},
	}
	got := sharedSummary([]Workload{sh, other}, res)
	assert.Contains(t, got, "| shared/tiny/x | 2000000 ns | 0.50 | 2.00 | 0.00 | 4000000 ns | errgroup-wait 1000000 ns | 500000 ns |")
	assert.NotContains(t, got, "cpu/y")
	assert.Empty(t, sharedSummary([]Workload{other}, res), "no shared workload, no table")
	assert.NotContains(t, summary([]Workload{sh, other}, res), "shared/", "the main table leaves them out")

	for _, c := range sharedContenders {
		count, sum := c.Run(500, 3, 7, tiny)
		assert.Equalf(t, 500, count, "%s: outputs", c.Name)
		assert.Equalf(t, 500*500, sum, "%s: each caller's own outputs", c.Name)
	}
}

// TestReadmeTable checks the README's one table: a plain row, the shared row
// per call, and the matrix folded into one row per task with the geometric
// means of its ratios.
func TestReadmeTable(t *testing.T) {
	secs := func(d float64) []Sample { return []Sample{{Wall: time.Duration(d * float64(time.Second))}} }
	ti := Workload{Group: "tiny", Name: "tiny/x", N: 10}
	m1 := Workload{Group: "matrix", Name: "matrix/t/submitters=1", N: 10}
	m2 := Workload{Group: "matrix", Name: "matrix/t/submitters=2", N: 10}
	sh := Workload{Group: "shared", Name: "shared/y", N: 1000}
	res := results{
		ti.Name: {"workerpool-default": secs(1), "textbook": secs(2), "pond": secs(4), "workerpool-Map": secs(0.5)},
		m1.Name: {"workerpool-default": secs(1), "textbook": secs(4), "ants": secs(1)},    // 0.25, 1
		m2.Name: {"workerpool-default": secs(1), "textbook": secs(1), "ants": secs(0.25)}, // 1, 4
		sh.Name: {"workerpool-Do": secs(0.001), "reply-textbook": secs(0.002), "errgroup-wait": secs(0.0005)},
	}
	got := readmeTable([]Workload{ti, m1, m2, sh}, res)
	assert.Contains(t, got, "| tiny/x | 1.00s | 0.50 | 0.25 | 0.00 | pond | 500.0ms | 0.12 |")
	assert.Contains(t, got, "| matrix/t, 2 submitter counts (geometric mean) | | 0.50 | 2.00 |")
	assert.Contains(t, got, "| shared/y | Do: 1000 ns a call | 0.50 | 2.00 | 0.00 | errgroup Go + done channel | n/a | n/a |")
	assert.NotContains(t, got, "submitters=1 |", "no matrix row of its own")
}

// TestLimitersServeEveryPhase runs every contender of the adaptive
// comparison through short phases: each serves calls in every phase and
// reports a limit within its bounds every tick.
func TestLimitersServeEveryPhase(t *testing.T) {
	for _, c := range limiterContenders {
		t.Run(c.name, func(t *testing.T) {
			rs := runLimiter(c, true, 200*time.Millisecond)
			assert.Len(t, rs, len(adaptivePhases))
			for i, r := range rs {
				assert.Positive(t, r.calls, "phase %d", i)
				assert.Len(t, r.inside, r.calls)
				assert.Len(t, r.limits, 4, "phase %d", i)
				for _, l := range r.limits {
					assert.GreaterOrEqual(t, l, 1)
					assert.LessOrEqual(t, l, 256)
				}
			}
		})
	}
}

func TestSettle(t *testing.T) {
	assert.Equal(t, 3*limitEvery, settle([]int{40, 20, 6, 5, 9}, 4))
	assert.Equal(t, limitEvery, settle([]int{16, 40}, 16))
	assert.Equal(t, time.Duration(-1), settle([]int{40, 30, 2}, 4))
}
