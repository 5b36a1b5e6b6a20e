package main

import (
	"math/rand/v2"
	"runtime"
	"strings"
	"time"
)

// Workload is one shape of work that every contender runs.
type Workload struct {
	Group      string // tiny, cpu, io, mem, matrix, shared
	Name       string // Group plus its parameters
	N          int    // jobs
	Workers    int
	Submitters int
	Task       Task
	// Limit is the least wall time the work allows (serial CPU time over
	// the cores, or the sleeps over the workers); 0 where it means nothing.
	Limit time.Duration
}

// Expected is the checksum of a workload's outputs.
func (w Workload) Expected() int {
	if w.Group == "tiny" || w.Group == "mem" || strings.HasPrefix(w.Name, "shared/tiny") {
		return w.N * w.N // Σ 2i+1 over 0..n-1
	}
	return w.N * (w.N - 1) / 2 // Σ i
}

func tiny(i int) int { return 2*i + 1 }

// spinRounds is calibrated so that cpuTask takes about 20µs.
var spinRounds = 1

func spin(i, rounds int) int {
	h := uint64(i) | 1
	for range rounds {
		h ^= h << 13
		h ^= h >> 7
		h ^= h << 17
	}
	if h == 0 { // never: keeps the loop from being optimised away
		return -1
	}
	return i
}

func cpuTask(i int) int { return spin(i, spinRounds) }

func calibrate(target time.Duration) {
	const probe = 1 << 22
	start := time.Now()
	if spin(1, probe) != 1 {
		panic("spin lost its input")
	}
	perRound := float64(time.Since(start)) / probe // ns
	spinRounds = max(1, int(float64(target)/max(perRound, 0.01)))
}

func sleepTask(d time.Duration) Task {
	return func(i int) int { time.Sleep(d); return i }
}

func randTask(i int) int {
	if rand.Float64() < 0 { // never
		return -1
	}
	return i
}

// serial measures running task over n jobs in one goroutine.
func serial(n int, task Task) time.Duration {
	start := time.Now()
	for i := range n {
		if task(i) < 0 {
			panic("task failed")
		}
	}
	return time.Since(start)
}

func workloads(quick bool) []Workload {
	procs := runtime.GOMAXPROCS(0)
	scale := func(n int) int {
		if quick {
			return max(n/100, 10)
		}
		return n
	}
	calibrate(20 * time.Microsecond)
	cpuN := scale(20_000)
	ioN := scale(5_000)
	ws := []Workload{
		{Group: "tiny", Name: "tiny/workers=GOMAXPROCS", N: scale(1_000_000), Workers: procs, Submitters: 1, Task: tiny},
		{Group: "tiny", Name: "tiny/workers=64", N: scale(1_000_000), Workers: 64, Submitters: 1, Task: tiny},
		{Group: "cpu", Name: "cpu/workers=GOMAXPROCS", N: cpuN, Workers: procs, Submitters: 1, Task: cpuTask,
			Limit: serial(cpuN, cpuTask) / time.Duration(procs)},
		{Group: "io", Name: "io/workers=100", N: ioN, Workers: 100, Submitters: 1, Task: sleepTask(time.Millisecond),
			Limit: time.Duration(ioN) * time.Millisecond / 100},
		{Group: "mem", Name: "mem/workers=1000", N: scale(1_000_000), Workers: 1000, Submitters: 1, Task: tiny},
	}
	for _, task := range []struct {
		name string
		fn   Task
	}{{"sleep10ms", sleepTask(10 * time.Millisecond)}, {"randFloat64", randTask}} {
		for _, s := range []int{1, 100, 1_000, 10_000, 1_000_000} {
			n := scale(1_000_000)
			ws = append(ws, Workload{
				Group: "matrix", Name: "matrix/" + task.name + "/submitters=" + itoa(min(s, n)),
				N: n, Workers: scale(200_000), Submitters: min(s, n), Task: task.fn,
			})
		}
	}
	// shared: callers share one pool, each waiting for its own calls.
	ws = append(ws,
		Workload{Group: "shared", Name: "shared/tiny/callers=64/workers=GOMAXPROCS", N: scale(200_000),
			Workers: procs, Submitters: 64, Task: tiny},
		Workload{Group: "shared", Name: "shared/tiny/callers=512/workers=64", N: scale(200_000),
			Workers: 64, Submitters: 512, Task: tiny},
		Workload{Group: "shared", Name: "shared/sleep1ms/callers=256/workers=32", N: scale(10_000),
			Workers: 32, Submitters: 256, Task: sleepTask(time.Millisecond),
			Limit: time.Duration(scale(10_000)) * time.Millisecond / 32},
	)
	return ws
}

func itoa(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmtInt(n/1_000_000) + "M"
	case n >= 1_000 && n%1_000 == 0:
		return fmtInt(n/1_000) + "k"
	}
	return fmtInt(n)
}
