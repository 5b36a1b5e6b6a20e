package workerpool

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// hasPointers reports whether values of t hold a pointer the GC must scan.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.UnsafePointer, reflect.Map, reflect.Chan, reflect.Func,
		reflect.Interface, reflect.Slice, reflect.String:
		return true
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// TestEnvelopeStaysSmallAndPointerFree pins the envelope the jobs channel
// copies twice per job under its lock: 32 bytes for an int job, and no
// pointer of its own, so that a channel of pointer-free jobs stays pointer
// free (worker.go gives the measured cost of either change: 7-13% and 17% a
// job in BenchmarkPool).
func TestEnvelopeStaysSmallAndPointerFree(t *testing.T) {
	e := reflect.TypeFor[envelope[int, int]]()
	assert.Equal(t, uintptr(32), e.Size(), "envelope[int, int]")
	assert.False(t, hasPointers(e), "envelope[int, int] holds a pointer")
	assert.False(t, hasPointers(reflect.TypeFor[envelope[[4]int64, string]]()),
		"the envelope adds no pointer to a pointer-free job")
}

// TestHotFieldsKeepTheirCacheLines pins the padding that keeps the state the
// submitters write on every job (the acceptance lock and what it guards) off
// the cache lines of the fields the workers read on every job, and the
// per-shard counters each on lines of their own.
func TestHotFieldsKeepTheirCacheLines(t *testing.T) {
	const line = 64
	var p Pool[int, int]
	readByWorkers := unsafe.Offsetof(p.stats) + unsafe.Sizeof(p.stats) // the last of them
	assert.GreaterOrEqual(t, unsafe.Offsetof(p.mu), readByWorkers+line,
		"a cache line between what workers read and the acceptance lock")
	acceptanceEnd := unsafe.Offsetof(p.marked) + unsafe.Sizeof(p.marked)
	assert.GreaterOrEqual(t, unsafe.Offsetof(p.eng), acceptanceEnd+line,
		"a cache line between the acceptance state and the engine")
	var e engine
	assert.GreaterOrEqual(t, unsafe.Offsetof(e.claimed), unsafe.Offsetof(e.parked)+unsafe.Sizeof(e.parked)+line,
		"a cache line between the limit and live counts that workers read and claimed, which submitters write")
	assert.GreaterOrEqual(t, unsafe.Offsetof(e.counts), unsafe.Offsetof(e.claimed)+unsafe.Sizeof(e.claimed)+line,
		"and between claimed and what follows it")
	assert.Equal(t, uintptr(2*line), unsafe.Sizeof(shard{}), "a shard fills two cache lines")
	var b batch[int, int]
	assert.GreaterOrEqual(t, unsafe.Offsetof(b.next), unsafe.Offsetof(b.stopped)+unsafe.Sizeof(b.stopped)+line,
		"Map's element counter on a line of its own")
	assert.GreaterOrEqual(t, unsafe.Sizeof(b)-unsafe.Offsetof(b.starting), uintptr(line),
		"and nothing after it on that line")
}
