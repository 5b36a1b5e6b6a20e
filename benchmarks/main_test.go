package main

import (
	"fmt"
	"testing"

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
