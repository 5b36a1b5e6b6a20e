// Command benchmarks runs the same workloads through workerpool, the
// hand-written channel pattern, a goroutine per job and the peer libraries
// (ants, pond, conc, errgroup, gammazero/workerpool), interleaved over
// several rounds in one process, checks every run's outputs, and reports
// medians and ratios. It can rewrite the README's benchmark table and draw
// the chart in docs/.
//
//	cd benchmarks
//	go run . -readme ../README.md -full ../docs/benchmarks.md -chart ../docs/benchmarks.png -shared-chart ../docs/shared.png   # ~10 min on 2 cores
//	go run . -quick                                               # a smoke run
//	go run . -only matrix -matrix-rounds 6 -floor-workers 20000   # the matrix over 6 rounds, with a channel floor
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func fmtInt(n int) string { return strconv.Itoa(n) }

var verbose = new(bool)

func main() {
	rounds := flag.Int("rounds", 9, "rounds of the tiny, cpu, io and mem workloads")
	matrixRounds := flag.Int("matrix-rounds", 1, "rounds of the matrix workloads")
	quick := flag.Bool("quick", false, "1% of the jobs, one round: checks that everything runs")
	only := flag.String("only", "", "run only the workload groups or names (e.g. matrix/sleep10ms/submitters=1) in this comma-separated list")
	keep := flag.String("contenders", "", "run only the contenders in this comma-separated list (e.g. workerpool,errgroup); ratios need textbook and the peers")
	readme := flag.String("readme", "", "rewrite the table between the benchmark markers of this file")
	chart := flag.String("chart", "", "write the chart (PNG) to this file")
	sharedChart := flag.String("shared-chart", "", "write the chart of the shared workloads (PNG) to this file")
	flagVerbose := flag.Bool("v", false, "print each run's wall time")
	full := flag.String("full", "", "write every workload's full table (Markdown) to this file")
	save := flag.String("save", "", "save the raw samples (JSON) to this file")
	load := flag.String("load", "", "report on samples saved with -save instead of running")
	flag.IntVar(&floorWorkers, "floor-workers", 0, "run the channel floor with this many workers on workloads with more than 1,024 (0: skip it there)")
	adaptive := flag.Bool("adaptive", false, "run the adaptive-limit comparison (and nothing else): fixed limits, failsafe-go and WithAdaptiveLimit before a simulated backend")
	phaseLen := flag.Duration("phase", 5*time.Second, "with -adaptive, the length of each of the three phases")
	adaptiveChart := flag.String("adaptive-chart", "", "with -adaptive, draw the limits over time to FILE-queue.png and FILE-collapse.png")
	flag.Parse()
	if *adaptive {
		if err := runAdaptive(*phaseLen, *adaptiveChart, *keep); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	command = strings.Join(append([]string{"go run ."}, os.Args[1:]...), " ")
	verbose = flagVerbose
	if *quick {
		*rounds, *matrixRounds = 1, 1
	}

	ws := filter(workloads(*quick), *only)
	contenders = pick(contenders, *keep)
	fmt.Fprintf(os.Stderr, "%s, GOMAXPROCS=%d, %d workloads, %d contenders\n",
		runtime.Version(), runtime.GOMAXPROCS(0), len(ws), len(contenders))
	var res results
	if *load != "" {
		res = mustLoad(*load, ws)
	} else {
		start := time.Now()
		res = run(ws, *rounds, *matrixRounds)
		fmt.Fprintf(os.Stderr, "done in %v\n", time.Since(start).Round(time.Second))
	}
	if *save != "" {
		mustSave(*save, ws, res)
	}

	table := report(ws, res)
	fmt.Print(table)
	if *full != "" {
		if err := os.WriteFile(*full, []byte("# Benchmark results\n\n"+table), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *readme != "" {
		// The README's one table comes from a whole run, or not at all.
		if *only != "" || *keep != "" {
			fmt.Fprintln(os.Stderr, "-readme needs a run of every workload and contender: drop -only and -contenders")
			os.Exit(2)
		}
		h := header(ws, res) + " Every workload's full table (min/max, B/job, peak heap, stack and " +
			"goroutines) is in [docs/benchmarks.md](docs/benchmarks.md).\n\n"
		if err := rewriteReadme(*readme, h+readmeTable(ws, res), *quick); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *sharedChart != "" {
		if err := drawSharedChart(*sharedChart, ws, res); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *chart != "" {
		if err := drawChart(*chart, ws, res); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

// progress is where run reports each round.
var progress io.Writer = os.Stderr

// results[workload][contender] holds one Sample per round.
type results map[string]map[string][]Sample

// run measures every contender on every workload, contender after contender
// within a workload (A B C A B C ...), starting from a different contender
// each round so that none always runs first.
func run(ws []Workload, rounds, matrixRounds int) results {
	res := results{}
	roundsOf := func(w Workload) int {
		if w.Group == "matrix" {
			return matrixRounds
		}
		return rounds
	}
	maxRounds := 0
	for _, w := range ws {
		maxRounds = max(maxRounds, roundsOf(w))
	}
	for r := range maxRounds {
		for _, w := range ws {
			if r >= roundsOf(w) {
				continue
			}
			if res[w.Name] == nil {
				res[w.Name] = map[string][]Sample{}
			}
			for k := range contenders {
				c := contenders[(k+r)%len(contenders)]
				if c.Shared != (w.Group == "shared") {
					continue
				}
				var count, sum int
				s := measure(func() { count, sum = c.Run(w.N, w.Workers, w.Submitters, w.Task) })
				if count == -1 {
					continue // the contender has no API for this shape
				}
				if count != w.N || sum != w.Expected() {
					fmt.Fprintf(os.Stderr, "%s on %s: %d outputs summing to %d, want %d summing to %d\n",
						c.Name, w.Name, count, sum, w.N, w.Expected())
					os.Exit(1)
				}
				res[w.Name][c.Name] = append(res[w.Name][c.Name], s)
				if *verbose {
					fmt.Fprintf(progress, "  %-20s %v\n", c.Name, s.Wall.Round(time.Microsecond))
				}
			}
			fmt.Fprintf(progress, "round %d/%d: %s\n", r+1, maxRounds, w.Name)
		}
	}
	return res
}

func filter(ws []Workload, only string) []Workload {
	if only == "" {
		return ws
	}
	keep := map[string]bool{}
	for _, g := range strings.Split(only, ",") {
		keep[g] = true
	}
	var out []Workload
	for _, w := range ws {
		if keep[w.Group] || keep[w.Name] {
			out = append(out, w)
		}
	}
	return out
}

// pick returns the contenders named in the comma-separated list, or all of
// them if it is empty.
func pick(cs []Contender, names string) []Contender {
	if names == "" {
		return cs
	}
	var out []Contender
	for _, name := range strings.Split(names, ",") {
		i := slices.IndexFunc(cs, func(c Contender) bool { return c.Name == name })
		if i < 0 {
			fmt.Fprintf(os.Stderr, "no contender %q\n", name)
			os.Exit(2)
		}
		out = append(out, cs[i])
	}
	return out
}

// saved is what -save writes and -load reads: the samples, and the limits
// the run measured its workloads against (the cpu limit is timed at start-up,
// so a later process would time another).
type saved struct {
	Limits       map[string]time.Duration
	FloorWorkers int `json:",omitempty"` // -floor-workers of the run
	Samples      results
}

func mustSave(path string, ws []Workload, res results) {
	out := saved{Limits: map[string]time.Duration{}, FloorWorkers: floorWorkers, Samples: res}
	for _, w := range ws {
		out.Limits[w.Name] = w.Limit
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// mustLoad reads samples saved with -save and sets the limits of ws, and
// the channel floor's worker count, to the ones they were measured with.
func mustLoad(path string, ws []Workload) results {
	var in saved
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &in)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := range ws {
		ws[i].Limit = in.Limits[ws[i].Name]
	}
	floorWorkers = in.FloorWorkers
	return in.Samples
}
