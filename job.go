package workerpool

import "context"

// Func is the work a [Pool] runs for each job. It is called from a worker
// goroutine with the job's context and value and returns the job's output and
// error, which become the job's [Result].
//
// ctx is the pool's context (see [WithContext]), narrowed by [WithJobTimeout]
// when that option is set. For a job of [Pool.Do], [Pool.TryDo] or
// [Pool.Map] it also carries the caller's context: its values, and it is done
// when either context is. A Func should return promptly once ctx is done; the
// pool never abandons a running Func, so a Func that ignores ctx holds its
// worker until it returns.
//
// A Func may be called by several workers at once and must be safe for
// concurrent use.
type Func[J, R any] func(ctx context.Context, job J) (R, error)

// Job is an accepted unit of work: the value passed to [Pool.Submit],
// [Pool.TrySubmit], [Pool.Do], [Pool.TryDo] or [Pool.Map] together with the
// ID the pool assigned to it.
type Job[J any] struct {
	// ID is assigned when the job is accepted. IDs are unique within a pool,
	// start at 1 and follow acceptance order with no gaps: the accepted jobs of
	// a pool are exactly 1..n.
	ID uint64
	// Value is the value that was submitted.
	Value J
}
