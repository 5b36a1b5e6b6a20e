package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"runtime"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// displayNames are the contenders' names in charts and the README table.
var displayNames = map[string]string{
	"textbook":                    "textbook channel pattern",
	"channel-floor":               "channel floor",
	"goroutine-per-job":           "goroutine per job",
	"workerpool":                  "workerpool Pool, 1,024-slot buffers",
	"workerpool-textbook-buffers": "workerpool Pool, buffers of N (the textbook's)",
	"workerpool-default":          "workerpool Pool",
	"workerpool-Map":              "workerpool Map",
	"workerpool-Do":               "workerpool Do",
	"semaphore-floor":             "semaphore floor",
	"reply-textbook":              "textbook pool with reply channels",
	"ants-wait":                   "ants Submit + done channel",
	"pond-wait":                   "pond SubmitErr().Wait()",
	"gammazero-SubmitWait":        "gammazero SubmitWait",
	"errgroup-wait":               "errgroup Go + done channel",
}

// displayName is c's name for people: its entry in displayNames, or itself.
func displayName(c string) string {
	if n, ok := displayNames[c]; ok {
		return n
	}
	return c
}

// palette has a distinct colour for every contender but the textbook one.
var palette = []color.Color{
	color.RGBA{0x44, 0x44, 0x44, 0xff}, // channel-floor
	color.RGBA{0x99, 0x99, 0x99, 0xff}, // goroutine-per-job
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, // ants
	color.RGBA{0xff, 0x7f, 0x0e, 0xff}, // pond
	color.RGBA{0x94, 0x67, 0xbd, 0xff}, // conc
	color.RGBA{0x8c, 0x56, 0x4b, 0xff}, // errgroup
	color.RGBA{0xe3, 0x77, 0xc2, 0xff}, // gammazero
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, // workerpool
	color.RGBA{0x00, 0x60, 0x00, 0xff}, // workerpool-default
	color.RGBA{0x98, 0xdf, 0x8a, 0xff}, // workerpool-Map
}

var peers = map[string]bool{"ants": true, "pond": true, "conc": true, "errgroup": true, "gammazero": true}

// roles names, for a workload, the row its ratios are taken against, its
// peers, and the row of this library the summary shows.
func roles(w Workload) (textbook string, peerSet map[string]bool, pool string) {
	if w.Group == "shared" {
		return "reply-textbook", sharedPeers, "workerpool-Do"
	}
	return "textbook", peers, "workerpool-default"
}

// stats is one contender's summary on one workload.
type stats struct {
	name          string
	wall          Summary // seconds
	allocs, bytes float64 // per job, median
	heap, stack   float64 // peak bytes, median
	gs            float64 // peak goroutines, median
	rounds        int
}

func summarise(w Workload, name string, ss []Sample) stats {
	col := func(f func(Sample) float64) []float64 {
		xs := make([]float64, len(ss))
		for i, s := range ss {
			xs[i] = f(s)
		}
		return xs
	}
	n := float64(w.N)
	return stats{
		name:   name,
		wall:   summarize(col(func(s Sample) float64 { return s.Wall.Seconds() })),
		allocs: summarize(col(func(s Sample) float64 { return float64(s.Allocs) / n })).Median,
		bytes:  summarize(col(func(s Sample) float64 { return float64(s.Bytes) / n })).Median,
		heap:   summarize(col(func(s Sample) float64 { return float64(s.PeakHeap) })).Median,
		stack:  summarize(col(func(s Sample) float64 { return float64(s.PeakStack) })).Median,
		gs:     summarize(col(func(s Sample) float64 { return float64(s.PeakGs) })).Median,
		rounds: len(ss),
	}
}

// workloadStats returns every contender's summary in the contenders' order,
// the textbook's, and the best peer's (least median wall time).
func workloadStats(w Workload, res results) (all []stats, textbook, best stats) {
	tbName, peerSet, _ := roles(w)
	for _, c := range contenders {
		ss := res[w.Name][c.Name]
		if len(ss) == 0 {
			continue
		}
		st := summarise(w, c.Name, ss)
		all = append(all, st)
		if c.Name == tbName {
			textbook = st
		}
		if peerSet[c.Name] && (best.name == "" || st.wall.Median < best.wall.Median) {
			best = st
		}
	}
	return all, textbook, best
}

func dur(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

// command is how the suite was run, for the header: main sets it from its
// arguments.
var command = "go run ."

// header says, in one line, how the results were made.
func header(ws []Workload, res results) string {
	// tiny, cpu, io and mem run -rounds rounds, the matrix -matrix-rounds.
	var rounds, matrix int
	for _, w := range ws {
		for _, ss := range res[w.Name] {
			if w.Group == "matrix" {
				matrix = max(matrix, len(ss))
			} else {
				rounds = max(rounds, len(ss))
			}
		}
	}
	var medians string
	switch {
	case rounds == 0:
		medians = "medians of " + count(matrix, "round")
	case matrix == 0:
		medians = "medians of " + count(rounds, "round")
	default:
		medians = fmt.Sprintf("medians of %s (%d for the matrix)", count(rounds, "round"), matrix)
	}
	best := "no peer ran, so there is no best peer."
	if ran := peersRun(res); len(ran) > 0 {
		best = "the best peer is the fastest of " + andList(ran) + " on that row."
	}
	return fmt.Sprintf("Measured with `cd benchmarks && %s` (%s, GOMAXPROCS=%d, %s/%s): %s, "+
		"contenders interleaved. ×textbook and ×best peer are ratios of median wall time, lower is better; %s",
		command, runtime.Version(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, medians, best)
}

// peersRun lists the peers with samples in res, in the order of contenders:
// a run limited by -contenders picks its best peer from these alone.
func peersRun(res results) []string {
	var ran []string
	for _, c := range contenders {
		if !peers[c.Name] && !sharedPeers[c.Name] {
			continue
		}
		for _, byName := range res {
			if len(byName[c.Name]) > 0 {
				ran = append(ran, c.Name)
				break
			}
		}
	}
	return ran
}

// count writes n and a noun, plural unless n is 1: "1 round", "9 rounds".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// andList joins names as prose: "a", "a and b", "a, b and c".
func andList(names []string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// report renders the results as Markdown: one table per workload.
func report(ws []Workload, res results) string {
	var b strings.Builder
	b.WriteString(header(ws, res) + "\n\n")
	for _, w := range ws {
		all, textbook, best := workloadStats(w, res)
		if len(all) == 0 {
			continue
		}
		fmt.Fprintf(&b, "**%s** (%d jobs, %s, %s", w.Name, w.N, count(w.Workers, "worker"), count(w.Submitters, "submitter"))
		if w.Limit > 0 {
			fmt.Fprintf(&b, ", limit %s", dur(w.Limit.Seconds()))
		}
		fmt.Fprintf(&b, ", %s)\n\n", count(all[0].rounds, "round"))
		b.WriteString("| contender | wall (median) | min–max | ns/job | allocs/job | B/job | peak heap | peak stack | peak goroutines | ×textbook | ×best peer |")
		if w.Limit > 0 {
			b.WriteString(" % of limit |")
		}
		b.WriteString("\n|---|---|---|---|---|---|---|---|---|---|---|")
		if w.Limit > 0 {
			b.WriteString("---|")
		}
		b.WriteString("\n")
		for _, st := range all {
			name := st.name
			if strings.HasPrefix(name, "workerpool") {
				name = "**" + name + "**"
			}
			if name == "channel-floor" && w.Workers > floorMaxWorkers {
				name = fmt.Sprintf("channel-floor (%d workers)", floorWorkers)
			}
			fmt.Fprintf(&b, "| %s | %s | %s–%s | %.0f | %.2f | %.0f | %s | %s | %.0f | %.2f | %.2f |",
				name, dur(st.wall.Median), dur(st.wall.Min), dur(st.wall.Max),
				st.wall.Median*1e9/float64(w.N), st.allocs, st.bytes, mib(st.heap), mib(st.stack), st.gs,
				st.wall.Median/textbook.wall.Median, st.wall.Median/best.wall.Median)
			if w.Limit > 0 {
				fmt.Fprintf(&b, " %.0f%% |", 100*w.Limit.Seconds()/st.wall.Median)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
		b.WriteString(headToHead(w, res))
	}
	return b.String()
}

// headToHead renders, for a workload run over several rounds, the default
// Pool's wall time over each peer's in the same round. Rounds drift with the
// load of a shared machine, and a ratio taken within a round cancels most of
// that drift. It also avoids the bias of the "best peer" column, the least
// of five noisy medians, which favours the peers: a contender exactly as fast
// as a peer reads about 1 here, but above 1 against the best peer.
func headToHead(w Workload, res results) string {
	_, peerSet, poolName := roles(w)
	pool := res[w.Name][poolName]
	if len(pool) < 2 {
		return ""
	}
	var b strings.Builder
	b.WriteString(poolName + " round by round: its wall time over each peer's in the same round.\n\n")
	b.WriteString("| peer | median | min–max | rounds faster |\n|---|---|---|---|\n")
	for _, c := range contenders {
		ss := res[w.Name][c.Name]
		if !peerSet[c.Name] || len(ss) != len(pool) {
			continue
		}
		ratios := make([]float64, len(ss))
		faster := 0
		for i := range ss {
			ratios[i] = pool[i].Wall.Seconds() / ss[i].Wall.Seconds()
			if pool[i].Wall < ss[i].Wall {
				faster++
			}
		}
		s := summarize(ratios)
		fmt.Fprintf(&b, "| %s | %.2f | %.2f–%.2f | %d of %d |\n", c.Name, s.Median, s.Min, s.Max, faster, len(ss))
	}
	b.WriteString("\n")
	return b.String()
}

// summary renders one row per workload: this library's variants against the
// textbook pattern and the best peer.
func summary(ws []Workload, res results) string {
	var b strings.Builder
	b.WriteString("| workload | workerpool (default options) | ×textbook | ×best peer | allocs/job | textbook | best peer | workerpool (explicit buffers) | Map |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, w := range ws {
		all, textbook, best := workloadStats(w, res)
		if len(all) == 0 || w.Group == "shared" {
			continue
		}
		byName := map[string]stats{}
		for _, st := range all {
			byName[st.name] = st
		}
		def := byName["workerpool-default"]
		cell := func(name string) string {
			st, ok := byName[name]
			if !ok {
				return "n/a"
			}
			return dur(st.wall.Median)
		}
		name := w.Name
		if w.Limit > 0 {
			name += fmt.Sprintf(" (%.0f%% of limit)", 100*w.Limit.Seconds()/def.wall.Median)
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.2f | %.2f | %s | %s %s | %s | %s |\n",
			name, dur(def.wall.Median), def.wall.Median/textbook.wall.Median, def.wall.Median/best.wall.Median,
			def.allocs, dur(textbook.wall.Median), best.name, dur(best.wall.Median),
			cell("workerpool"), cell("workerpool-Map"))
	}
	return b.String()
}

// sharedSummary renders one row per shared workload: Pool.Do against the
// reply-channel textbook, the best peer and the semaphore floor, per call.
// It is empty when no shared workload ran.
func sharedSummary(ws []Workload, res results) string {
	var b strings.Builder
	for _, w := range ws {
		all, textbook, best := workloadStats(w, res)
		if len(all) == 0 || w.Group != "shared" {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("| workload | workerpool Do, per call | ×reply textbook | ×best peer | allocs/call | reply textbook | best peer | semaphore floor |\n")
			b.WriteString("|---|---|---|---|---|---|---|---|\n")
		}
		byName := map[string]stats{}
		for _, st := range all {
			byName[st.name] = st
		}
		do, floor := byName["workerpool-Do"], byName["semaphore-floor"]
		per := func(st stats) string {
			if st.name == "" {
				return "n/a"
			}
			return fmt.Sprintf("%.0f ns", st.wall.Median*1e9/float64(w.N))
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.2f | %.2f | %s | %s %s | %s |\n",
			w.Name, per(do), do.wall.Median/textbook.wall.Median, do.wall.Median/best.wall.Median,
			do.allocs, per(textbook), best.name, per(best), per(floor))
	}
	return b.String()
}

const (
	beginMarker = "<!-- benchmarks:begin -->"
	endMarker   = "<!-- benchmarks:end -->"
)

// rewriteReadme replaces what stands between the markers in path.
func rewriteReadme(path, table string, quick bool) error {
	if quick {
		return fmt.Errorf("refusing to put a -quick run in %s", path)
	}
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(old)
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s ... %s section", path, beginMarker, endMarker)
	}
	s = s[:i+len(beginMarker)] + "\n" + table + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

// drawChart draws, for the tiny, cpu, io and mem workloads, each
// contender's median wall time as a multiple of the textbook pattern's.
func drawChart(path string, ws []Workload, res results) error {
	var groups []Workload
	for _, w := range ws {
		if w.Group != "matrix" && w.Group != "shared" && len(res[w.Name]) > 0 {
			groups = append(groups, w)
		}
	}
	return drawRatios(path, groups, res, "textbook", fmt.Sprintf(
		"Wall time relative to the textbook channel pattern (median, GOMAXPROCS=%d; lower is better)",
		runtime.GOMAXPROCS(0)))
}

// drawSharedChart draws the same for the shared workloads, against the
// reply-channel textbook.
func drawSharedChart(path string, ws []Workload, res results) error {
	var groups []Workload
	for _, w := range ws {
		if w.Group == "shared" && len(res[w.Name]) > 0 {
			groups = append(groups, w)
		}
	}
	return drawRatios(path, groups, res, "reply-textbook", fmt.Sprintf(
		"One pool shared by many callers: wall time relative to the reply-channel textbook pool (median, GOMAXPROCS=%d; lower is better)",
		runtime.GOMAXPROCS(0)))
}

// drawRatios draws each contender's median wall time on each workload of
// groups as a multiple of the textbook row's, with the legend to the right
// of the plot, clear of the bars.
func drawRatios(path string, groups []Workload, res results, textbook, title string) error {
	p := plot.New()
	p.Title.Text = title
	legend := plot.NewLegend()
	p.Y.Label.Text = "× textbook"
	p.Y.Min = 0
	top := 1.0
	width := vg.Points(7)
	var shown []Contender
	for _, c := range contenders {
		ran := false
		for _, w := range groups {
			ran = ran || len(res[w.Name][c.Name]) > 0
		}
		if c.Name != textbook && ran {
			shown = append(shown, c)
		}
	}
	for k, c := range shown {
		vals := make(plotter.Values, len(groups))
		for g, w := range groups {
			ss := res[w.Name][c.Name]
			tb := res[w.Name][textbook]
			if len(ss) == 0 || len(tb) == 0 {
				continue
			}
			vals[g] = summarise(w, c.Name, ss).wall.Median / summarise(w, textbook, tb).wall.Median
			top = max(top, vals[g])
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return err
		}
		bars.Color = palette[k%len(palette)]
		bars.LineStyle.Width = 0
		bars.Offset = width * vg.Length(k-len(shown)/2)
		p.Add(bars)
		legend.Add(displayName(c.Name), bars)
	}
	one := plotter.NewFunction(func(float64) float64 { return 1 })
	one.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
	p.Add(one)
	p.Y.Max = top * 1.05
	names := make([]string, len(groups))
	for i, w := range groups {
		names[i] = w.Name
	}
	p.NominalX(names...)

	const w, h, side = 13 * vg.Inch, 5 * vg.Inch, 3 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	p.Draw(draw.Crop(dc, 0, -side, 0, 0))
	legend.Top = true
	legend.Draw(draw.Crop(dc, w-side+vg.Points(10), 0, 0, -vg.Points(30)))
	return writePNG(path, img)
}

// writePNG writes img to the file at path as a PNG.
func writePNG(path string, img *vgimg.Canvas) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readmeTable renders the README's one table: for each workload but the
// matrix, this library's row against the textbook and the best peer; for
// the matrix, one row per task with the geometric means of those ratios over
// its submitter counts; for the shared workloads, Do per call.
func readmeTable(ws []Workload, res results) string {
	var b strings.Builder
	b.WriteString("| workload | workerpool | ×textbook | ×best peer | allocs/job | best peer | workerpool Map | Map ×best peer |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	matrix := map[string][][2]float64{} // task -> (×textbook, ×best peer) per shape
	var tasks []string
	for _, w := range ws {
		all, textbook, best := workloadStats(w, res)
		if len(all) == 0 {
			continue
		}
		_, _, poolName := roles(w)
		byName := map[string]stats{}
		for _, st := range all {
			byName[st.name] = st
		}
		pool, ok := byName[poolName]
		if !ok || textbook.name == "" || best.name == "" {
			continue
		}
		if w.Group == "matrix" {
			task := strings.Split(w.Name, "/")[1]
			if _, seen := matrix[task]; !seen {
				tasks = append(tasks, task)
			}
			matrix[task] = append(matrix[task], [2]float64{pool.wall.Median / textbook.wall.Median, pool.wall.Median / best.wall.Median})
			continue
		}
		value := dur(pool.wall.Median)
		if w.Group == "shared" {
			value = fmt.Sprintf("Do: %.0f ns a call", pool.wall.Median*1e9/float64(w.N))
		}
		mapCell, mapRatio := "n/a", "n/a"
		if m, ok := byName["workerpool-Map"]; ok {
			mapCell, mapRatio = dur(m.wall.Median), fmt.Sprintf("%.2f", m.wall.Median/best.wall.Median)
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.2f | %.2f | %s | %s | %s |\n", w.Name, value,
			pool.wall.Median/textbook.wall.Median, pool.wall.Median/best.wall.Median, pool.allocs,
			displayName(best.name), mapCell, mapRatio)
	}
	for _, task := range tasks {
		rs := matrix[task]
		fmt.Fprintf(&b, "| matrix/%s, %d submitter counts (geometric mean) | | %.2f | %.2f | | | | |\n",
			task, len(rs), geomean(rs, 0), geomean(rs, 1))
	}
	return b.String()
}

func geomean(rs [][2]float64, k int) float64 {
	s := 0.0
	for _, r := range rs {
		s += math.Log(r[k])
	}
	return math.Exp(s / float64(len(rs)))
}
