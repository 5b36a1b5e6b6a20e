// Package workerpool runs a function over many jobs with a bounded number of
// goroutines, and hands back exactly one result per job.
//
// The model is the one Go programmers write by hand: N worker goroutines
// range over a buffered jobs channel, run a [Func] on each job and send a
// [Result] to a results channel, which is closed after the last worker
// returns. [Pool] makes that pattern generic and safe: workers start on demand
// up to the limit, every accepted job yields exactly one Result (after a
// panic, a cancellation, a timeout or a runtime.Goexit too), job IDs are
// 1..n in acceptance order, Submit never panics however it races Close, and
// [Pool.Stats] reports what the pool is doing.
//
// Three shapes cover everyday use:
//   - [Map] runs a function over a slice and returns the outputs in order,
//     failing fast on the first error.
//   - [Stream] runs a function over a channel of values and returns a channel
//     of Results, for pipelines.
//   - [New] returns a [Pool] to submit to with [Pool.Submit] or
//     [Pool.TrySubmit] and read from with [Pool.Results], for long-lived
//     workers such as queue consumers.
//
// Options ([WithWorkers], [WithBufferSize], [WithResultBufferSize],
// [WithContext], [WithJobTimeout], [WithOrderedResults]) configure all three,
// and so do the ones for calling other services: [WithRateLimit] paces jobs,
// [WithRetry] retries failures with a [Backoff] (errors marked [Permanent]
// are not retried), and [WithObserver] reports each job's start and finish.
// [Pool.Resize] changes the worker limit while the pool runs.
//
// Concurrency: every method of [Pool] is safe for use by multiple goroutines
// simultaneously. Results must be read, from a goroutine other than the one
// that submits once the buffers can fill: see [Pool].
package workerpool
