package kafka

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// benchRecords is how many keyed records each benchmark iteration consumes,
// from 6 partitions and 600 keys.
const benchRecords = 6000

// benchJob stands for a call to another service: 100 µs of waiting.
func benchJob() { time.Sleep(100 * time.Microsecond) }

// BenchmarkConsume consumes the same records, in key order, with Consume at
// 1, GOMAXPROCS and 64 workers, and with a plain loop of one goroutine per
// partition that polls, processes and commits (franz-go's
// goroutine-per-partition example), on the same in-process kfake broker.
// Each iteration is a new group reading the topic from the start, so the
// group join is part of every figure. It reports records/s.
//
//	go test -run '^$' -bench Consume -benchtime 5x -count 3 .
func BenchmarkConsume(b *testing.B) {
	seeds := newCluster(b, 6, "bench")
	produce(b, seeds, "bench", 6, benchRecords, func(i int) []byte { return []byte("k" + strconv.Itoa(i%600)) })
	var groups atomic.Int64
	group := func() string { return "bench-" + strconv.FormatInt(groups.Add(1), 10) }

	for _, workers := range []int{1, runtime.GOMAXPROCS(0), 64} {
		b.Run(fmt.Sprintf("Consume/workers=%d", workers), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				ctx, cancel := context.WithCancel(context.Background())
				var n atomic.Int64
				err := Consume(ctx, clientOpts(seeds), group(), []string{"bench"},
					func(r *kgo.Record) ([]byte, error) { return r.Value, nil },
					func(context.Context, []byte) (int, error) {
						benchJob()
						if n.Add(1) == benchRecords {
							cancel()
						}
						return 0, nil
					}, WithWorkers(workers))
				cancel()
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
	b.Run("goroutine-per-partition", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if err := perPartition(seeds, group(), "bench", benchRecords); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// perPartition consumes want records of topic as a member of group with one
// goroutine per assigned partition, each processing its records in order
// and marking them for commit, as franz-go's goroutine-per-partition example
// does; it commits what is marked once all are processed.
func perPartition(seeds, group, topic string, want int64) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu    sync.Mutex
		parts = map[int32]chan []*kgo.Record{}
		wg    sync.WaitGroup
		n     atomic.Int64
	)
	var cl *kgo.Client
	stopAll := func(ps []int32) {
		mu.Lock()
		for _, p := range ps {
			if ch := parts[p]; ch != nil {
				close(ch)
				delete(parts, p)
			}
		}
		mu.Unlock()
	}
	cl, err := kgo.NewClient(append(clientOpts(seeds),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.AutoCommitMarks(), kgo.BlockRebalanceOnPoll(), kgo.FetchMaxWait(DefaultFetchMaxWait),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range a[topic] {
				ch := make(chan []*kgo.Record, 4)
				parts[p] = ch
				wg.Add(1)
				go func() {
					defer wg.Done()
					for rs := range ch {
						for range rs {
							benchJob()
							if n.Add(1) == want {
								cancel()
							}
						}
						cl.MarkCommitRecords(rs...)
					}
				}()
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) { stopAll(r[topic]) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) { stopAll(l[topic]) }),
	)...)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			mu.Lock()
			ch := parts[p.Partition]
			mu.Unlock()
			if ch != nil && len(p.Records) > 0 {
				ch <- p.Records
			}
		})
		cl.AllowRebalance()
	}
	mu.Lock()
	all := make([]int32, 0, len(parts))
	for p := range parts {
		all = append(all, p)
	}
	mu.Unlock()
	stopAll(all)
	wg.Wait()
	err = cl.CommitMarkedOffsets(context.Background())
	cl.Close()
	return err
}
