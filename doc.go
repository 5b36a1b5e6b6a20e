// Package workerpool runs a function over many jobs with a bounded number of
// goroutines, and hands back exactly one result per job. Which one to use:
//   - [Map] for a slice: the outputs in order, or the first error.
//   - [Stream] for a channel of values: a channel of Results, for pipelines.
//   - [Pool] with [Pool.Submit] and [Pool.Results] for jobs that arrive over
//     time, such as a queue consumer's, each Result read with its job.
//   - [Pool.Do], [Pool.TryDo] and [Pool.Map] for one pool shared by many
//     callers, such as a server's handlers, each getting its own result.
//
// The model is the one Go programmers write by hand: N worker goroutines
// range over a buffered jobs channel, run a [Func] on each job and send a
// [Result] to a results channel, which is closed after the last worker
// returns. [Pool] makes that pattern generic and safe: workers start on demand
// up to the limit and exit when idle ([WithIdleTimeout]), every accepted job
// yields exactly one Result (after a panic, a cancellation, a timeout or a
// runtime.Goexit too), job IDs are 1..n in acceptance order, Submit never
// panics however it races Close, and [Pool.Stats] reports what the pool is
// doing. The jobs of [Pool.Do], [Pool.TryDo] and [Pool.Map] are ordinary jobs
// of the pool whose Results go to their callers, under each caller's context,
// and a Pool.Map call keeps at most N of its jobs queued or running, so the
// callers of one pool share it fairly.
//
// Options ([WithWorkers], [WithBufferSize], [WithResultBufferSize],
// [WithContext], [WithJobTimeout], [WithOrderedResults], [WithIdleTimeout])
// configure them all, and so do the ones for calling other services:
// [WithRateLimit] paces jobs, [WithRetry] retries failures with a [Backoff]
// (errors marked [Permanent] are not retried), and [WithObserver] reports each
// job's start and finish. [Pool.Resize] changes the worker limit while the
// pool runs.
//
// Concurrency: every method of [Pool] is safe for use by multiple goroutines
// simultaneously. When jobs are submitted with Submit or TrySubmit, Results
// must be read, from a goroutine other than the one that submits once the
// buffers can fill: see [Pool].
package workerpool
