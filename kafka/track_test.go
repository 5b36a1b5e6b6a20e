package kafka

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCommitPointIsTheFirstUnfinishedRecord drives a partition through random
// fetches and completions in any order: the commit point is always the
// offset of the first record handed out and not done, or the offset after
// the last one fetched when all are done; and a key's next record starts only
// when the one before it is done, in offset order.
func TestCommitPointIsTheFirstUnfinishedRecord(t *testing.T) {
	for _, o := range []Ordering{OrderKey, OrderPartition, OrderNone} {
		t.Run(o.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(o)))
			p := newPartition[int]("t", 0)
			_, _, ok := p.commitPoint()
			assert.False(t, ok, "nothing to commit before the first fetch")
			var runnable []*record[int] // started, not done
			done := map[int64]bool{}
			offset := int64(100) // the partition's log starts past 0
			running := map[string]int64{}
			for step := 0; step < 5000; step++ {
				if rng.IntN(2) == 0 || len(runnable) == 0 {
					r := &kgo.Record{Offset: offset, Key: []byte{byte('a' + rng.IntN(5))}}
					offset++
					x := &record[int]{r: r, p: p, key: orderingKey(r, o)}
					if p.add(x, o) {
						runnable = append(runnable, x)
					}
				} else {
					i := rng.IntN(len(runnable))
					x := runnable[i]
					runnable = append(runnable[:i], runnable[i+1:]...)
					done[x.r.Offset] = true
					if next := p.finish(x, o); next != nil {
						require.Greater(t, next.r.Offset, x.r.Offset, "a key's records in offset order")
						runnable = append(runnable, next)
					}
				}
				// Never two of a key at once (nor of the partition, with
				// OrderPartition).
				clear(running)
				for _, x := range runnable {
					if o != OrderNone {
						_, twice := running[x.key]
						require.False(t, twice, "two records of key %q runnable at once", x.key)
					}
					running[x.key] = x.r.Offset
				}
				// The commit point: the first offset not done.
				want := int64(100)
				for want < offset && done[want] {
					want++
				}
				got, _, ok := p.commitPoint()
				require.True(t, ok)
				require.Equal(t, want, got, "step %d", step)
				require.Equal(t, int(offset-want), p.held(), "held: from the commit point on")
				require.Equal(t, int(offset-100)-len(done), p.undone)
			}
		})
	}
}
