package workerpool

// Resize sets the worker limit to n, at once and for all later jobs.
//
// Growing starts at once a worker for each job waiting for one (up to n),
// and lets a Submit waiting for room try again; with no job waiting it starts
// none, and more start as jobs arrive. Shrinking never interrupts a running
// job: surplus workers exit when idle (at once) or when their current job
// ends, and from the moment Resize returns no new job starts while n or more
// are running. [Pool.Stats] reports n as Workers.
//
// On a pool with [WithAdaptiveLimit], n is clamped into the option's bounds
// and the pool goes on adapting from there.
//
// Resize is safe for concurrent use. After Close it has no effect. Panics if
// n < 1.
func (p *Pool[J, R]) Resize(n int) {
	if n < 1 {
		invalid("Resize", n, "n must be at least 1")
	}
	if a := p.run.adapt; a != nil {
		n = int(a.clamp(int64(n)))
	}
	p.setLimit(n)
}

// setLimit sets the worker limit to n >= 1 (Resize, an adaptive limit).
func (p *Pool[J, R]) setLimit(n int) {
	select {
	case <-p.closing:
		return
	default:
	}
	old := p.eng.resize(n)
	if p.order != nil {
		p.order.wake() // the window follows the limit
	}
	// Idle surplus workers leave at once, as far as no job counts on them;
	// the others leave when their job ends.
	for range max(old-int64(n), 0) {
		if !p.askToLeave(0) {
			return
		}
	}
}
