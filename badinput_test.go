package workerpool_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/workerpool-go/workerpool"
)

// panicMessage runs f and returns what it panicked with, as a string.
func panicMessage(f func()) (msg string) {
	defer func() { msg, _ = recover().(string) }()
	f()
	return ""
}

// TestNilContextIsAnsweredClearly: a nil Context gets a workerpool: panic
// that names the call, as net/http does, not a SIGSEGV inside the library.
func TestNilContextIsAnsweredClearly(t *testing.T) {
	p := workerpool.New(double)
	defer p.Close()
	var nilCtx context.Context
	calls := map[string]func(){
		"Submit":   func() { _, _ = p.Submit(nilCtx, 1) },
		"Do":       func() { _, _ = p.Do(nilCtx, 1) },
		"TryDo":    func() { _, _ = p.TryDo(nilCtx, 1) },
		"Pool.Map": func() { _, _ = p.Map(nilCtx, []int{1}) },
		"Map":      func() { _, _ = workerpool.Map(nilCtx, []int{1}, double) },
		"Stream":   func() { workerpool.Stream(nilCtx, make(chan int), double) },
	}
	for name, call := range calls {
		msg := panicMessage(call)
		assert.Truef(t, strings.HasPrefix(msg, "workerpool: "), "%s: %q", name, msg)
		assert.Containsf(t, msg, name, "%s: the message names the call", name)
		assert.Containsf(t, msg, "nil Context", "%s", name)
	}
}

// TestHugeBuffersAreRefusedAtNew: a buffer that would take more than 1 GiB
// is refused by New with a workerpool: panic naming the option and value,
// instead of an out-of-memory crash no recover can catch, or the runtime's
// "makechan: size out of range".
func TestHugeBuffersAreRefusedAtNew(t *testing.T) {
	cases := map[string]workerpool.Option{
		"workerpool: WithBufferSize(268435456): a buffer of 268435456 slots of 32 bytes would take more than 1 GiB":       workerpool.WithBufferSize(1 << 28),
		"workerpool: WithResultBufferSize(268435456): a buffer of 268435456 slots of 48 bytes would take more than 1 GiB": workerpool.WithResultBufferSize(1 << 28),
	}
	for want, opt := range cases {
		assert.PanicsWithValue(t, want, func() { workerpool.New(double, opt) })
	}
	msg := panicMessage(func() { workerpool.New(double, workerpool.WithBufferSize(math.MaxInt)) })
	assert.Contains(t, msg, "workerpool: WithBufferSize(9223372036854775807)")
	p := workerpool.New(double, workerpool.WithBufferSize(1<<20)) // 32 MiB: allowed
	p.Close()
	assert.Empty(t, collect(t, p.Results()))
}

// TestStreamOverANilChannelEndsWithItsContext: a nil channel is never ready,
// as Go's rule for a receive says, so Stream reads nothing from it and ends,
// closing its Results, once its context ends: the documented answer.
func TestStreamOverANilChannelEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var in chan int
	results := workerpool.Stream(ctx, in, double)
	cancel()
	assert.Empty(t, collect(t, results))
}
