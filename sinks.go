package workerpool

import (
	"sync"
	"sync/atomic"
)

// sinkTable hands out the sinks of a pool's callers (Do, TryDo, Pool.Map)
// under handles, so that an envelope names its sink by a number instead of
// a pointer.
//
// The jobs channel copies every envelope twice under its lock, and an element
// type with a pointer in it costs more there (and makes the buffer one more
// thing for the GC to scan): with the old 24-byte envelope plus one pointer
// field BenchmarkPool went from 155-207 to 175-242 ns a job (+17%, 8 runs
// each, benchstat), where a uint64 in its place measured the same as
// nothing. So an envelope holds a sink's handle, and the worker looks the
// sink up here.
//
// Sinks are made on demand and never freed: the table grows to the most
// calls a pool has had in flight at once, and a handle always names the
// same sink. Free sinks wait on a lock-free stack (free: a generation count
// in the high 32 bits against ABA, the handle of the top in the low 32).
type sinkTable[J, R any] struct {
	mu     sync.Mutex // guards n and the growth of chunks
	n      uint32     // sinks made
	chunks atomic.Pointer[[]*[sinkChunk]*sink[J, R]]
	free   atomic.Uint64
}

const sinkChunk = 256

// get returns a free sink of pool p, making one if none is free.
func (t *sinkTable[J, R]) get(p *Pool[J, R]) *sink[J, R] {
	for {
		head := t.free.Load()
		h := uint32(head)
		if h == 0 {
			return t.make(p)
		}
		s := t.at(uint64(h))
		if t.free.CompareAndSwap(head, (head>>32+1)<<32|uint64(s.next.Load())) {
			return s
		}
	}
}

// put makes s free again. Nobody may use s after put.
func (t *sinkTable[J, R]) put(s *sink[J, R]) {
	for {
		head := t.free.Load()
		s.next.Store(uint32(head))
		if t.free.CompareAndSwap(head, (head>>32+1)<<32|uint64(s.handle)) {
			return
		}
	}
}

// at returns the sink with handle h (h >= 1). A handle reaches a worker
// through the jobs channel after the sink was stored, so the worker sees it.
func (t *sinkTable[J, R]) at(h uint64) *sink[J, R] {
	i := h - 1
	return (*t.chunks.Load())[i/sinkChunk][i%sinkChunk]
}

// make makes a new sink of pool p with the next handle.
func (t *sinkTable[J, R]) make(p *Pool[J, R]) *sink[J, R] {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.n
	t.n++
	var chunks []*[sinkChunk]*sink[J, R]
	if old := t.chunks.Load(); old != nil {
		chunks = *old
	}
	if int(i/sinkChunk) == len(chunks) {
		// A new slice, so that readers of the old one are not disturbed.
		grown := append(chunks[:len(chunks):len(chunks)], new([sinkChunk]*sink[J, R]))
		t.chunks.Store(&grown)
		chunks = grown
	}
	s := &sink[J, R]{pool: p, handle: i + 1, done: make(chan struct{}, 1)}
	chunks[i/sinkChunk][i%sinkChunk] = s
	return s
}
