// Command progress runs a large batch through a workerpool and prints a live
// progress line from Pool.Stats: done/total, the rate, and the ETA.
//
//	go run ./progress            # 200,000 jobs of ~20µs CPU work
//	go run ./progress -n 1000000 -work 5µs
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/workerpool-go/workerpool"
)

func main() {
	n := flag.Int("n", 200_000, "number of jobs")
	work := flag.Duration("work", 20*time.Microsecond, "CPU time per job (approximate)")
	workers := flag.Int("workers", runtime.GOMAXPROCS(0), "workers")
	every := flag.Duration("every", 200*time.Millisecond, "progress refresh interval")
	flag.Parse()

	rounds := calibrate(*work)
	p := workerpool.New(func(_ context.Context, seed int) ([32]byte, error) {
		return spin(seed, rounds), nil
	}, workerpool.WithWorkers(*workers))

	go func() {
		defer p.Close()
		for i := range *n {
			if _, err := p.Submit(context.Background(), i); err != nil {
				fmt.Fprintln(os.Stderr, "submit:", err)
				return
			}
		}
	}()

	start := time.Now()
	tick := time.NewTicker(*every)
	defer tick.Stop()
	results := p.Results()
	var checksum byte
	for results != nil {
		select {
		case r, ok := <-results:
			if !ok {
				results = nil
				continue
			}
			checksum ^= r.Value[0]
		case <-tick.C:
			printProgress(p.Stats(), *n, time.Since(start))
		}
	}
	printProgress(p.Stats(), *n, time.Since(start))
	fmt.Printf("\ndone: %d jobs in %v (checksum %02x)\n", *n, time.Since(start).Round(time.Millisecond), checksum)
}

// printProgress rewrites the current terminal line.
func printProgress(st workerpool.Stats, total int, elapsed time.Duration) {
	done := float64(st.Completed)
	rate := done / elapsed.Seconds()
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(total)-done) * time.Second / time.Duration(rate)).Round(100 * time.Millisecond).String()
	}
	fmt.Printf("\r%7.0f/%d (%5.1f%%)  %8.0f jobs/s  ETA %-8s running %d queued %d failed %d   ",
		done, total, 100*done/float64(total), rate, eta, st.Running, st.Queued, st.Failed)
}

// spin does rounds of SHA-256 as stand-in CPU work.
func spin(seed, rounds int) [32]byte {
	sum := sha256.Sum256([]byte{byte(seed), byte(seed >> 8)})
	for range rounds {
		sum = sha256.Sum256(sum[:])
	}
	return sum
}

// calibrate finds how many rounds of spin take about d.
func calibrate(d time.Duration) int {
	const probe = 20_000
	start := time.Now()
	spin(0, probe)
	per := time.Since(start) / probe
	return max(1, int(d/max(per, 1)))
}
