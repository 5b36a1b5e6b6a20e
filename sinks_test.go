package workerpool

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSinksAreRecycled: a caller's sink goes back to the table once both its
// holders let go, so calls one after another reuse their sinks, and calls
// at once need no more sinks than there are calls in flight.
func TestSinksAreRecycled(t *testing.T) {
	p := New(double0, WithWorkers(2))
	defer closeAndCount(p)
	for i := range 100 {
		v, err := p.Do(context.Background(), i)
		require.NoError(t, err)
		require.Equal(t, 2*i, v)
	}
	// The worker lets go of a sink just after it signals the caller, so the
	// caller's next call may find it still held: two sinks at most.
	assert.LessOrEqual(t, p.sinks.n, uint32(2), "sinks made for 100 calls in turn")

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 100 {
				_, err := p.Do(context.Background(), i)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, p.sinks.n, uint32(8+2), "no more sinks than calls in flight, plus one a worker may still hold")
}

// TestSinkTableHandles: every sink keeps the handle it was made with, and a
// handle finds it, across the table's chunks.
func TestSinkTableHandles(t *testing.T) {
	p := New(double0)
	defer closeAndCount(p)
	var got []*sink[int, int]
	for range sinkChunk + 3 {
		got = append(got, p.sinks.get(p))
	}
	for i, s := range got {
		assert.Equal(t, uint32(i+1), s.handle)
		assert.Same(t, s, p.sinks.at(uint64(s.handle)))
	}
	p.sinks.put(got[5])
	p.sinks.put(got[sinkChunk+1])
	assert.Same(t, got[sinkChunk+1], p.sinks.get(p), "the last put is the first got")
	assert.Same(t, got[5], p.sinks.get(p))
	assert.Equal(t, uint32(sinkChunk+3), p.sinks.n, "nothing new made while some were free")
}
