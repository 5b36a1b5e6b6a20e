package main

import (
	"context"
	"sync"

	"github.com/alitto/pond/v2"
	gzworkerpool "github.com/gammazero/workerpool"
	"github.com/panjf2000/ants/v2"
	"github.com/workerpool-go/workerpool"
	"golang.org/x/sync/errgroup"
)

// The shared workloads: `submitters` callers share ONE pool of `workers`,
// each making its calls one after another and waiting for each call's own
// result, as the request handlers of a server do. Every contender gets the
// output of call i back in the caller that made it, or the run fails its
// checksum.

// sharedContenders run the shared workloads, and only those.
var sharedContenders = []Contender{
	{Name: "semaphore-floor", Run: runSemaphoreFloor, Shared: true},
	{Name: "reply-textbook", Run: runReplyTextbook, Shared: true},
	{Name: "ants-wait", Run: runAntsWait, Shared: true},
	{Name: "pond-wait", Run: runPondWait, Shared: true},
	{Name: "gammazero-SubmitWait", Run: runGammazeroWait, Shared: true},
	{Name: "errgroup-wait", Run: runErrgroupWait, Shared: true},
	{Name: "workerpool-Do", Run: runDo, Shared: true},
}

// sharedPeers are the peers of the shared workloads; reply-textbook is
// their textbook. tunny's ProcessCtx would be one more, but the module proxy
// this suite is run from does not serve github.com/Jeffail/tunny.
var sharedPeers = map[string]bool{
	"ants-wait": true, "pond-wait": true, "gammazero-SubmitWait": true, "errgroup-wait": true,
}

// calls runs call(i) for every i in 0..n-1, from `callers` goroutines each
// making its calls one after another, and checks nothing itself: the outputs
// go into a slice by call, for the checksum.
func calls(n, callers int, call func(i int) int) (int, int) {
	out := make([]int, n)
	split(n, callers, func(i int) { out[i] = call(i) })
	return sumSlice(out)
}

// runSemaphoreFloor is what no pool can beat: a channel semaphore caps the
// calls, and each caller runs its job itself, with no hand-over at all.
func runSemaphoreFloor(n, workers, callers int, task Task) (int, int) {
	sem := make(chan struct{}, workers)
	return calls(n, callers, func(i int) int {
		sem <- struct{}{}
		defer func() { <-sem }()
		return task(i)
	})
}

// runReplyTextbook is the textbook pool with a reply channel in every job:
// how a shared pool with per-caller results is written by hand.
func runReplyTextbook(n, workers, callers int, task Task) (int, int) {
	type job struct {
		i     int
		reply chan int
	}
	jobs := make(chan job, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				j.reply <- task(j.i)
			}
		})
	}
	defer wg.Wait()
	defer close(jobs)
	return calls(n, callers, func(i int) int {
		reply := make(chan int, 1)
		jobs <- job{i, reply}
		return <-reply
	})
}

// runAntsWait submits to an ants pool and waits on a done channel.
func runAntsWait(n, workers, callers int, task Task) (int, int) {
	p, err := ants.NewPool(workers)
	if err != nil {
		panic(err)
	}
	defer p.Release()
	return calls(n, callers, func(i int) int {
		done := make(chan int, 1)
		if err := p.Submit(func() { done <- task(i) }); err != nil {
			panic(err)
		}
		return <-done
	})
}

// runPondWait uses pond v2's result pool: SubmitErr, then Wait.
func runPondWait(n, workers, callers int, task Task) (int, int) {
	p := pond.NewResultPool[int](workers)
	defer p.StopAndWait()
	return calls(n, callers, func(i int) int {
		v, err := p.SubmitErr(func() (int, error) { return task(i), nil }).Wait()
		if err != nil {
			panic(err)
		}
		return v
	})
}

// runGammazeroWait uses gammazero/workerpool's SubmitWait.
func runGammazeroWait(n, workers, callers int, task Task) (int, int) {
	wp := gzworkerpool.New(workers)
	defer wp.StopWait()
	return calls(n, callers, func(i int) int {
		var v int
		wp.SubmitWait(func() { v = task(i) })
		return v
	})
}

// runErrgroupWait uses one errgroup with SetLimit for every caller, each
// waiting on a done channel for its own call.
func runErrgroupWait(n, workers, callers int, task Task) (int, int) {
	var g errgroup.Group
	g.SetLimit(workers)
	defer func() {
		if err := g.Wait(); err != nil {
			panic(err)
		}
	}()
	return calls(n, callers, func(i int) int {
		done := make(chan int, 1)
		g.Go(func() error { done <- task(i); return nil })
		return <-done
	})
}

// runDo shares one Pool and calls Do.
func runDo(n, workers, callers int, task Task) (int, int) {
	p := workerpool.New(func(_ context.Context, i int) (int, error) { return task(i), nil },
		workerpool.WithWorkers(workers))
	defer p.Close()
	ctx := context.Background()
	return calls(n, callers, func(i int) int {
		v, err := p.Do(ctx, i)
		if err != nil {
			panic(err)
		}
		return v
	})
}
