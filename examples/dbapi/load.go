package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// runLoad serves s on a free loopback port, sends it n GETs of random users
// from `clients` goroutines at once, and writes what it saw to out: requests
// a second, latency percentiles of the requests and of the queries, the
// share answered 503, the pool's limit every 250 ms, and /stats taken
// half-way. Every request is bounded by a client timeout, so the run ends.
func runLoad(ctx context.Context, out io.Writer, s *server, n, clients int) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()

	type answer struct {
		status  int
		latency time.Duration
	}
	answers := make([]answer, n)
	var next sync.Mutex
	i := 0
	var statsMid []byte
	var wg sync.WaitGroup
	s.store.Meter().Durations(true)
	var limits []int
	sampled := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				limits = append(limits, s.pool.Stats().Workers)
			case <-done:
				return
			}
		}
	}()
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for {
				next.Lock()
				k := i
				i++
				next.Unlock()
				if k >= n || ctx.Err() != nil {
					return
				}
				if k == n/2 {
					statsMid = get(ctx, client, base+"/stats")
				}
				t := time.Now()
				status := getStatus(ctx, client, fmt.Sprintf("%s/users/%d", base, 1+rand.IntN(seedUsers)))
				answers[k] = answer{status, time.Since(t)}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(done)
	<-sampled
	queries := s.store.Meter().Durations(false)
	slices.Sort(queries)

	byStatus := map[int]int{}
	var lat []time.Duration
	for _, a := range answers {
		byStatus[a.status]++
		if a.status == http.StatusOK {
			lat = append(lat, a.latency)
		}
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return quantile(lat, p) }
	fmt.Fprintf(out, "%d GETs from %d clients against %s in %v: %.0f requests/s\n",
		n, clients, s.store.Kind(), elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	fmt.Fprintf(out, "answered 200: %d, 503: %d (%.1f%%), other: %d\n", byStatus[200], byStatus[503],
		100*float64(byStatus[503])/float64(n), n-byStatus[200]-byStatus[503])
	fmt.Fprintf(out, "latency of the 200s: p50 %v, p99 %v, max %v\n",
		pct(0.5).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond))
	fmt.Fprintf(out, "run time of the %d queries: p50 %v, p99 %v\n", len(queries),
		quantile(queries, 0.5).Round(10*time.Microsecond), quantile(queries, 0.99).Round(10*time.Microsecond))
	fmt.Fprintf(out, "the pool's limit every 250 ms: %v\n", limits)
	var pretty any
	if json.Unmarshal(statsMid, &pretty) == nil {
		b, _ := json.MarshalIndent(pretty, "", "  ")
		fmt.Fprintf(out, "/stats half-way:\n%s\n", b)
	}
	return nil
}

func getStatus(ctx context.Context, c *http.Client, url string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func get(ctx context.Context, c *http.Client, url string) []byte {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// quantile returns the q-quantile of the sorted ds, 0 if there are none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}
