package workerpool

import "errors"

var (
	// ErrClosed is returned by [Pool.Submit], [Pool.TrySubmit], [Pool.Do],
	// [Pool.TryDo] and [Pool.Map] after [Pool.Close], including to a call
	// that was waiting for room when Close was called. The job was not
	// accepted.
	ErrClosed = errors.New("workerpool: pool is closed")

	// ErrQueueFull is returned by [Pool.TrySubmit] and [Pool.TryDo] when the
	// jobs buffer has no room. The job was not accepted.
	ErrQueueFull = errors.New("workerpool: jobs buffer is full")

	// ErrGoexit is the Result.Err of a job whose Func called runtime.Goexit
	// (as t.FailNow and t.SkipNow do). The pool replaces the exited worker, so
	// it can still run as many jobs at once as before.
	ErrGoexit = errors.New("workerpool: job called runtime.Goexit")
)
