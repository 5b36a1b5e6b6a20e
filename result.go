package workerpool

import (
	"fmt"
	"runtime/debug"
)

// Result is the outcome of one accepted job. A [Pool] delivers exactly one
// Result for every job it accepts, whatever happens to the job.
type Result[J, R any] struct {
	// Job is the job this Result belongs to.
	Job Job[J]
	// Value is what the Func returned; the zero value when the Func did not
	// return normally or was never called.
	Value R
	// Err is the Func's error, a *PanicError when the Func panicked,
	// ErrGoexit when it called runtime.Goexit, or why the job never ran: the
	// pool context's error when that context was done before the job started,
	// or, for a job of Do, TryDo or Pool.Map, the caller's context's error
	// when the caller gave up while the job waited.
	Err error
	// Attempts is how many times the Func ran for this job: 1 normally, up
	// to the limit set by WithRetry, 0 if it never ran.
	Attempts int
}

// PanicError is the Result.Err of a job whose Func panicked. The worker
// recovers, records the panic here and goes on with the next job.
//
// Use errors.As to get it from a Result; errors.Is sees through it to the
// panic value when that value is an error.
type PanicError struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the stack of the goroutine that panicked, as runtime/debug.Stack
	// formats it.
	Stack []byte
}

var _ error = (*PanicError)(nil)

func newPanicError(v any) *PanicError {
	return &PanicError{Value: v, Stack: debug.Stack()}
}

// Error returns "workerpool: job panicked: " followed by the panic value. The
// stack is left out; it is in the Stack field.
func (e *PanicError) Error() string {
	return fmt.Sprintf("workerpool: job panicked: %v", e.Value)
}

// Unwrap returns the panic value when it is an error, and nil otherwise.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
