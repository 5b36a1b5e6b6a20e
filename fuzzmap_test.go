package workerpool_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
	"go.uber.org/goleak"
)

// FuzzMap decodes its input into Map's options and elements, each of which
// succeeds, fails, panics, yields or calls runtime.Goexit (see fuzzJob), and
// checks Map's contract on both of its paths: the outputs in order when every
// element succeeds; otherwise nil and the error of one of the elements that
// did not, as it is; and no goroutine left behind.
//
//	go test -run '^$' -fuzz FuzzMap -fuzztime 5m .
func FuzzMap(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 3, 0})
	f.Add([]byte{1, 0, 3, 0, 1, 0, 0, 2})
	f.Add([]byte{2, 3, 3, 3, 3, 3, 4, 0, 0, 0})
	f.Add([]byte{0x87, 0, 0, 5, 10, 15, 20, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		ignore := goleak.IgnoreCurrent()
		// data[0]: the worker limit (bits 0-2, 1..8, or past 1,024 with bit
		// 7) and retries (bit 3).
		workers := 1 + int(data[0]&7)
		if data[0]&0x80 != 0 {
			workers = 1025 + int(data[0]&7)
		}
		opts := []workerpool.Option{workerpool.WithWorkers(workers)}
		if data[0]&8 != 0 {
			opts = append(opts, workerpool.WithRetry(2, workerpool.ExponentialBackoff(time.Microsecond, time.Microsecond)))
		}
		in := make([]int, len(data)-1)
		failing := map[int]bool{} // the job kinds present that fail the Map
		for i, b := range data[1:] {
			in[i] = int(b)
			if k := in[i] % jobKinds; k == jobFail || k == jobPanic || k == jobGoexit {
				failing[k] = true
			}
		}
		out, err := workerpool.Map(context.Background(), in, fuzzJob, opts...)
		if len(failing) == 0 {
			require.NoError(t, err)
			require.Equal(t, in, out)
		} else {
			require.Error(t, err)
			assert.Nil(t, out)
			var pe *workerpool.PanicError
			switch {
			case errors.Is(err, errFuzz):
				assert.True(t, failing[jobFail], "errFuzz without a failing element")
			case errors.As(err, &pe):
				assert.True(t, failing[jobPanic], "a panic without a panicking element")
			case errors.Is(err, workerpool.ErrGoexit):
				assert.True(t, failing[jobGoexit], "ErrGoexit without such an element")
			default:
				t.Fatalf("Map returned %v, not an element's own error", err)
			}
		}
		goleak.VerifyNone(t, ignore)
	})
}
