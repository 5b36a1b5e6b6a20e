package workerpool_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
)

// payload is a job value that holds 10 MiB.
type payload struct{ buf []byte }

// TestFinishedJobIsNotReachable: once a job's Result has been delivered, the
// pool keeps nothing of it: its 10 MiB value is freed although the worker
// that ran it stays (no idle timeout) and takes no other job. Each way of
// submitting and delivering is checked.
func TestFinishedJobIsNotReachable(t *testing.T) {
	echo := func(_ context.Context, v *payload) (*payload, error) { return v, nil }
	modes := map[string]struct {
		opts []workerpool.Option
		run  func(t *testing.T, p *workerpool.Pool[*payload, *payload], v *payload)
	}{
		"Submit": {nil, func(t *testing.T, p *workerpool.Pool[*payload, *payload], v *payload) {
			_, err := p.Submit(context.Background(), v)
			require.NoError(t, err)
			require.Same(t, v, (<-p.Results()).Value)
		}},
		"ordered": {[]workerpool.Option{workerpool.WithOrderedResults()}, func(t *testing.T, p *workerpool.Pool[*payload, *payload], v *payload) {
			_, err := p.Submit(context.Background(), v)
			require.NoError(t, err)
			require.Same(t, v, (<-p.Results()).Value)
		}},
		"Do": {nil, func(t *testing.T, p *workerpool.Pool[*payload, *payload], v *payload) {
			got, err := p.Do(context.Background(), v)
			require.NoError(t, err)
			require.Same(t, v, got)
		}},
		"Pool.Map": {nil, func(t *testing.T, p *workerpool.Pool[*payload, *payload], v *payload) {
			got, err := p.Map(context.Background(), []*payload{v})
			require.NoError(t, err)
			require.Same(t, v, got[0])
		}},
	}
	for name, m := range modes {
		t.Run(name, func(t *testing.T) {
			p := workerpool.New(echo, append(m.opts, workerpool.WithWorkers(1), workerpool.WithIdleTimeout(0))...)
			defer func() {
				p.Close()
				for range p.Results() {
				}
			}()
			freed := make(chan struct{})
			func() {
				v := &payload{buf: make([]byte, 10<<20)}
				runtime.AddCleanup(v, func(ch chan struct{}) { close(ch) }, freed)
				m.run(t, p, v)
			}()
			deadline := time.Now().Add(watchdog) // a watchdog only
			for {
				runtime.GC()
				select {
				case <-freed:
					require.Equal(t, 1, p.Stats().Live, "the worker that ran it is still there")
					return
				default:
				}
				require.True(t, time.Now().Before(deadline), "the pool still holds the job's value")
				runtime.Gosched()
			}
		})
	}
}
