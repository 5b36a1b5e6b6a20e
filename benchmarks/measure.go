package main

import (
	"runtime"
	"runtime/metrics"
	"sort"
	"sync"
	"time"
)

// Sample is what one run of one contender measured.
type Sample struct {
	Wall      time.Duration
	Allocs    uint64 // heap allocations during the run
	Bytes     uint64 // heap bytes allocated during the run
	PeakHeap  uint64 // peak live heap objects, above the level before the run
	PeakStack uint64 // peak goroutine stack memory, above the level before
	PeakGs    int    // peak goroutines, above the number before
}

// sampler polls the runtime's live heap, stack memory and goroutine count
// while a run is under way and keeps their peaks.
type sampler struct {
	stop            chan struct{}
	done            sync.WaitGroup
	heap, stack, gs uint64
	base            [3]uint64
}

var metricNames = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/sched/goroutines:goroutines",
}

func readMetrics(s []metrics.Sample) [3]uint64 {
	metrics.Read(s)
	return [3]uint64{s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()}
}

func startSampler() *sampler {
	sm := &sampler{stop: make(chan struct{})}
	s := make([]metrics.Sample, len(metricNames))
	for i, n := range metricNames {
		s[i].Name = n
	}
	sm.base = readMetrics(s)
	sm.done.Add(1)
	go func() {
		defer sm.done.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			v := readMetrics(s)
			sm.heap = max(sm.heap, v[0])
			sm.stack = max(sm.stack, v[1])
			sm.gs = max(sm.gs, v[2])
			select {
			case <-sm.stop:
				return
			case <-t.C:
			}
		}
	}()
	return sm
}

func (sm *sampler) finish(s *Sample) {
	close(sm.stop)
	sm.done.Wait()
	over := func(peak, base uint64) uint64 {
		if peak > base {
			return peak - base
		}
		return 0
	}
	s.PeakHeap = over(sm.heap, sm.base[0])
	s.PeakStack = over(sm.stack, sm.base[1])
	s.PeakGs = int(over(sm.gs, sm.base[2]+1)) // the sampler itself
}

// measure runs f once, after a GC so that each run starts from the same
// heap, and returns what it cost.
func measure(f func()) Sample {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sm := startSampler()
	start := time.Now()
	f()
	var s Sample
	s.Wall = time.Since(start)
	sm.finish(&s)
	runtime.ReadMemStats(&after)
	s.Allocs = after.Mallocs - before.Mallocs
	s.Bytes = after.TotalAlloc - before.TotalAlloc
	return s
}

// Summary is the median, min and max of one metric over the rounds.
type Summary struct{ Median, Min, Max float64 }

func summarize(xs []float64) Summary {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Summary{Median: m, Min: s[0], Max: s[len(s)-1]}
}
