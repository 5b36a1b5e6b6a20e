package examples

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool"
	"golang.org/x/time/rate"
)

// A client that calls an API at most 50 times a second, with 8 workers:
// *rate.Limiter satisfies workerpool.Limiter as it is.
func Example_rateLimitedClient() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user %s", strings.TrimPrefix(r.URL.Path, "/users/"))
	}))
	defer api.Close()
	client := api.Client()
	defer client.CloseIdleConnections()

	get := func(ctx context.Context, id int) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/users/%d", api.URL, id), nil)
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}

	limiter := rate.NewLimiter(rate.Limit(50), 1)
	users, err := workerpool.Map(context.Background(), []int{1, 2, 3, 4, 5}, get,
		workerpool.WithWorkers(8), workerpool.WithRateLimit(limiter))
	fmt.Println(strings.Join(users, ", "), err)
	// Output:
	// user 1, user 2, user 3, user 4, user 5 <nil>
}

// TestRateLimiterPacesJobs shows, on synctest's fake clock, that N jobs under
// a *rate.Limiter of r per second with burst 1 take (N-1)/r seconds: the first
// passes at once, then one every 1/r.
func TestRateLimiterPacesJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, r = 41, 20
		limiter := rate.NewLimiter(rate.Limit(r), 1)
		var starts []time.Duration
		begin := time.Now()
		out, err := workerpool.Map(context.Background(), make([]int, n), func(context.Context, int) (time.Duration, error) {
			return time.Since(begin), nil
		}, workerpool.WithWorkers(16), workerpool.WithRateLimit(limiter))
		require.NoError(t, err)
		starts = append(starts, out...)
		assert.Equal(t, time.Duration(n-1)*time.Second/r, time.Since(begin))
		assert.Len(t, starts, n)
	})
}

// TestRateLimiterWaitFailsAtJobTimeout: rate.Limiter.Wait refuses at once a
// wait that would outlast the job's deadline, and the job reports it.
func TestRateLimiterWaitFailsAtJobTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limiter := rate.NewLimiter(rate.Every(time.Hour), 1)
		p := workerpool.New(func(_ context.Context, v int) (int, error) { return v, nil },
			workerpool.WithRateLimit(limiter), workerpool.WithJobTimeout(time.Second), workerpool.WithWorkers(1),
			workerpool.WithOrderedResults())
		for i := range 2 {
			_, err := p.Submit(context.Background(), i)
			require.NoError(t, err)
		}
		p.Close()
		var rs []workerpool.Result[int, int]
		for r := range p.Results() {
			rs = append(rs, r)
		}
		require.Len(t, rs, 2)
		assert.NoError(t, rs[0].Err)
		assert.Error(t, rs[1].Err, "the second token comes after the deadline")
		assert.Zero(t, rs[1].Attempts)
	})
}
