// Command scaleout shares one batch of work between two worker groups
// through a JetStream durable consumer, as two processes on two machines
// would. With NATS_URL set it uses that server; without, it starts an
// embedded one (JetStream on, a temporary store), so it runs on a fresh
// machine with one command:
//
//	go run ./examples/scaleout            # from the natsjs directory
//	NATS_URL=nats://host:4222 go run ./examples/scaleout -n 100000
package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/workerpool-go/workerpool/natsjs"
)

func main() {
	n := flag.Int("n", 20_000, "messages to publish and process")
	workers := flag.Int("workers", 4, "workers in each group")
	flag.Parse()

	url := os.Getenv("NATS_URL")
	if url == "" {
		dir, err := os.MkdirTemp("", "scaleout")
		check(err)
		defer os.RemoveAll(dir)
		s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true})
		check(err)
		go s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			log.Fatal("embedded server did not start")
		}
		defer s.Shutdown()
		url = s.ClientURL()
		fmt.Println("embedded NATS server at", url)
	}

	ctx := context.Background()
	nc, err := nats.Connect(url)
	check(err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	check(err)
	_ = js.DeleteStream(ctx, "SCALEOUT")
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "SCALEOUT", Subjects: []string{"scaleout.>"}, Retention: jetstream.WorkQueuePolicy,
	})
	check(err)
	_, err = js.CreateOrUpdateConsumer(ctx, "SCALEOUT", jetstream.ConsumerConfig{
		Durable: "workers", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxAckPending: 10_000,
	})
	check(err)

	start := time.Now()
	buf := make([]byte, 8)
	for i := range *n {
		binary.BigEndian.PutUint64(buf, uint64(i))
		_, err := js.PublishAsync("scaleout.job", append([]byte(nil), buf...))
		check(err)
	}
	<-js.PublishAsyncComplete()
	fmt.Printf("published %d messages in %v\n", *n, time.Since(start).Round(time.Millisecond))

	// Two groups, each with its own connection, as two processes would be.
	var done atomic.Int64
	var perGroup [2]atomic.Int64
	ctx, cancel := context.WithCancel(ctx)
	all := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	start = time.Now()
	for g := range 2 {
		gnc, err := nats.Connect(url)
		check(err)
		defer gnc.Close()
		gjs, err := jetstream.New(gnc)
		check(err)
		cons, err := gjs.Consumer(ctx, "SCALEOUT", "workers")
		check(err)
		wg.Go(func() {
			err := natsjs.Consume(ctx, cons,
				func(m jetstream.Msg) (uint64, error) { return binary.BigEndian.Uint64(m.Data()), nil },
				func(_ context.Context, v uint64) ([32]byte, error) {
					sum := sha256.Sum256(binary.BigEndian.AppendUint64(nil, v)) // stand-in work
					perGroup[g].Add(1)
					if done.Add(1) == int64(*n) {
						once.Do(func() { close(all) })
					}
					return sum, nil
				}, natsjs.WithWorkers(*workers), natsjs.WithBufferSize(*workers*4))
			check(err)
		})
	}
	<-all
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	fmt.Printf("processed %d messages in %v: %.0f msg/s (group 1: %d, group 2: %d)\n",
		*n, elapsed.Round(time.Millisecond), float64(*n)/elapsed.Seconds(), perGroup[0].Load(), perGroup[1].Load())
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
