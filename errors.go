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

// marked is err with a mark that the pool reads (Permanent, Overloaded); K
// tells the marks apart, so that one error may carry several. Its message is
// err's, and errors.Is and errors.As see through it.
type marked[K any] struct{ err error }

func (e *marked[K]) Error() string { return e.err.Error() }
func (e *marked[K]) Unwrap() error { return e.err }

// The marks.
type (
	permanentMark  struct{}
	overloadedMark struct{}
)

// withMark returns err marked with K; withMark(nil) is nil.
func withMark[K any](err error) error {
	if err == nil {
		return nil
	}
	return &marked[K]{err}
}

// hasMark reports whether err, or an error it wraps, was marked with K.
func hasMark[K any](err error) bool {
	var m *marked[K]
	return errors.As(err, &m)
}
