package main

// The adaptive comparison (-adaptive): 256 callers in a closed loop call a
// simulated backend (internal/backend: C calls served at once, a lognormal
// service time around 2 ms, the calls beyond C queued inside it) through a
// limiter, in three phases: C = 16, then 4 (a degraded backend), then 16
// again. It runs once with a backend that queues and once with one that also
// slows as it is overloaded (collapse). The limiters are this library's
// pool with fixed limits of 4, 16, 64 and 256, failsafe-go's adaptive
// limiter with its defaults, and the pool with WithAdaptiveLimit(1, 256).

import (
	"context"
	"fmt"
	"image/color"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/workerpool-go/workerpool"
	"github.com/workerpool-go/workerpool/internal/backend"
)

const (
	adaptiveCallers = 256
	adaptiveService = 2 * time.Millisecond
	adaptiveSigma   = 0.3 // the lognormal's shape: p99 about 2× the median
	limitEvery      = 50 * time.Millisecond
)

// adaptivePhases are the backend's capacities, one per phase.
var adaptivePhases = []int{16, 4, 16}

// limiter is one contender of the comparison in front of a backend: call
// makes one call through it and returns the time the call spent inside the
// backend; limit reports its limit now; stop releases it.
type limiter struct {
	call  func(ctx context.Context) (time.Duration, error)
	limit func() int
	stop  func()
}

type limiterContender struct {
	name string
	make func(be *backend.Backend) limiter
}

func poolLimiter(opts ...workerpool.Option) func(be *backend.Backend) limiter {
	return func(be *backend.Backend) limiter {
		p := workerpool.New(func(ctx context.Context, _ struct{}) (time.Duration, error) {
			return be.Call(ctx)
		}, opts...)
		return limiter{
			call:  func(ctx context.Context) (time.Duration, error) { return p.Do(ctx, struct{}{}) },
			limit: func() int { return p.Stats().Workers },
			stop:  p.Close,
		}
	}
}

func failsafeLimiter(be *backend.Backend) limiter {
	l := adaptivelimiter.NewWithDefaults[any]()
	return limiter{
		call: func(ctx context.Context) (time.Duration, error) {
			permit, err := l.AcquirePermit(ctx)
			if err != nil {
				return 0, err
			}
			d, err := be.Call(ctx)
			permit.Record()
			return d, err
		},
		limit: l.Limit,
		stop:  func() {},
	}
}

var limiterContenders = []limiterContender{
	{"fixed 4", poolLimiter(workerpool.WithWorkers(4))},
	{"fixed 16", poolLimiter(workerpool.WithWorkers(16))},
	{"fixed 64", poolLimiter(workerpool.WithWorkers(64))},
	{"fixed 256", poolLimiter(workerpool.WithWorkers(256))},
	{"failsafe-go adaptivelimiter", failsafeLimiter},
	{"workerpool adaptive", poolLimiter(workerpool.WithAdaptiveLimit(1, 256))},
}

// phaseResult is what one contender did in one phase.
type phaseResult struct {
	calls          int
	inside, caller []time.Duration // per call: in the backend, and in the call through the limiter
	limits         []int           // every limitEvery
}

// runLimiter runs one contender through the phases.
func runLimiter(c limiterContender, collapse bool, phaseLen time.Duration) []*phaseResult {
	be := backend.New(adaptivePhases[0], adaptiveService, adaptiveSigma, collapse, 1)
	l := c.make(be)
	var (
		mu    sync.Mutex
		cur   = &phaseResult{}
		stop  atomic.Bool
		wg    sync.WaitGroup
		ctx   = context.Background()
		order = make([]*phaseResult, 0, len(adaptivePhases))
	)
	for range adaptiveCallers {
		wg.Go(func() {
			for !stop.Load() {
				began := time.Now()
				inside, err := l.call(ctx)
				took := time.Since(began)
				if err != nil {
					continue
				}
				mu.Lock()
				cur.calls++
				cur.inside = append(cur.inside, inside)
				cur.caller = append(cur.caller, took)
				mu.Unlock()
			}
		})
	}
	for _, capacity := range adaptivePhases {
		be.SetCapacity(capacity)
		mu.Lock()
		cur = &phaseResult{}
		order = append(order, cur)
		mu.Unlock()
		tick := time.NewTicker(limitEvery)
		for range phaseLen / limitEvery {
			<-tick.C
			limit := l.limit()
			mu.Lock()
			cur.limits = append(cur.limits, limit)
			mu.Unlock()
		}
		tick.Stop()
	}
	stop.Store(true)
	mu.Lock()
	cur = &phaseResult{} // the calls that end after the last phase
	mu.Unlock()
	wg.Wait()
	l.stop()
	return order
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

// settle is the time from the start of a phase until the limit first comes
// within [C, 1.5C], and -1 if it never does.
func settle(limits []int, c int) time.Duration {
	for i, l := range limits {
		if l >= c && 2*l <= 3*c {
			return time.Duration(i+1) * limitEvery
		}
	}
	return -1
}

// runAdaptive runs the comparison for both variants and writes the report
// (Markdown) to stdout, and charts of the limits when chart is not empty
// (chart-queue.png and chart-collapse.png for chart "chart.png").
func runAdaptive(phaseLen time.Duration, chart string, keep string) error {
	cs := limiterContenders
	if keep != "" {
		cs = slices.DeleteFunc(slices.Clone(cs), func(c limiterContender) bool {
			return !slices.Contains(strings.Split(keep, ","), c.name)
		})
	}
	fmt.Printf("Simulated backend: %d callers in a closed loop, service time lognormal (median %v, σ %.1f), phases of %v at C = %v.\n\n",
		adaptiveCallers, adaptiveService, adaptiveSigma, phaseLen, adaptivePhases)
	for _, collapse := range []bool{false, true} {
		variant := "queue"
		if collapse {
			variant = "collapse"
		}
		all := map[string][]*phaseResult{}
		// Alternate the order between the variants, so that no contender
		// always runs first.
		order := slices.Clone(cs)
		if collapse {
			slices.Reverse(order)
		}
		for _, c := range order {
			fmt.Fprintf(os.Stderr, "%s: %s\n", variant, c.name)
			all[c.name] = runLimiter(c, collapse, phaseLen)
		}
		fmt.Printf("### %s\n\n", variant)
		fmt.Println("| contender | phase (C) | calls/s | backend p50 | backend p99 | call p99 | limit (median) | settled |")
		fmt.Println("|---|---|---|---|---|---|---|---|")
		for _, c := range cs {
			for i, r := range all[c.name] {
				lim := slices.Sorted(slices.Values(r.limits))
				st := "-"
				if i > 0 && strings.Contains(c.name, "adaptive") {
					if d := settle(r.limits, adaptivePhases[i]); d >= 0 {
						st = d.String()
					} else {
						st = "never"
					}
				}
				fmt.Printf("| %s | %d (%d) | %.0f | %v | %v | %v | %d | %s |\n", c.name, i+1, adaptivePhases[i],
					float64(r.calls)/phaseLen.Seconds(), quantile(r.inside, 0.5).Round(10*time.Microsecond),
					quantile(r.inside, 0.99).Round(10*time.Microsecond), quantile(r.caller, 0.99).Round(10*time.Microsecond),
					lim[len(lim)/2], st)
			}
		}
		fmt.Println()
		if chart != "" {
			path := strings.TrimSuffix(chart, ".png") + "-" + variant + ".png"
			if err := drawLimits(path, variant, phaseLen, all); err != nil {
				return err
			}
		}
	}
	return nil
}

// limitColors are the lines of failsafe-go's limiter and of this library's.
var limitColors = []color.Color{color.RGBA{R: 230, G: 120, B: 20, A: 255}, color.RGBA{R: 30, G: 100, B: 200, A: 255}}

// drawLimits charts the adaptive contenders' limits over time, with the
// backend's capacity.
func drawLimits(path, variant string, phaseLen time.Duration, all map[string][]*phaseResult) error {
	p := plot.New()
	p.Title.Text = "The limit over time, backend that " + map[string]string{"queue": "queues", "collapse": "collapses"}[variant]
	p.X.Label.Text = "seconds"
	p.Y.Label.Text = "limit"
	p.Legend.Top = true
	var capPts plotter.XYs
	for i, c := range adaptivePhases {
		t0 := float64(i) * phaseLen.Seconds()
		capPts = append(capPts, plotter.XY{X: t0, Y: float64(c)}, plotter.XY{X: t0 + phaseLen.Seconds(), Y: float64(c)})
	}
	capLine, err := plotter.NewLine(capPts)
	if err != nil {
		return err
	}
	capLine.Color = color.Gray{Y: 120}
	capLine.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(capLine)
	p.Legend.Add("backend capacity C", capLine)
	k := 0
	for _, name := range []string{"failsafe-go adaptivelimiter", "workerpool adaptive"} {
		rs, ok := all[name]
		if !ok {
			continue
		}
		var pts plotter.XYs
		for i, r := range rs {
			for j, l := range r.limits {
				pts = append(pts, plotter.XY{X: float64(i)*phaseLen.Seconds() + float64(j+1)*limitEvery.Seconds(), Y: float64(l)})
			}
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.Color = limitColors[k%len(limitColors)]
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(name, line)
		k++
	}
	p.Y.Min = 0
	img := vgimg.New(10*vg.Inch, 4*vg.Inch)
	p.Draw(draw.New(img))
	return writePNG(path, img)
}
