// Command worker produces a batch of keyed records and consumes it in two
// processes of one consumer group, each a kafka.Consume with its own pool of
// workers, as two replicas of a service would.
//
//	cd kafka && go run ./examples/worker                       # starts a kfake broker of its own
//	cd kafka && KAFKA_SEEDS=127.0.0.1:9092 go run ./examples/worker
//
// Without KAFKA_SEEDS it starts franz-go's kfake, a Kafka-protocol broker, in
// this process on a free loopback port. The two consumers are this program
// run again; it stops them once the group has committed every record.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/workerpool-go/workerpool"
	"github.com/workerpool-go/workerpool/kafka"
)

const (
	topic   = "workerpool-example"
	group   = "workerpool-example"
	records = 1000
)

func main() {
	if name := os.Getenv("WORKER_NAME"); name != "" {
		consume(name, os.Getenv("KAFKA_SEEDS"))
		return
	}
	seeds := os.Getenv("KAFKA_SEEDS")
	if seeds == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(6, topic))
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()
		seeds = c.ListenAddrs()[0]
		fmt.Println("started kfake at", seeds)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	rs := make([]*kgo.Record, records)
	for i := range rs {
		rs[i] = &kgo.Record{Key: []byte("customer-" + strconv.Itoa(i%50)), Value: []byte(strconv.Itoa(i))}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("produced", records, "records to", topic)

	var procs []*exec.Cmd
	for _, name := range []string{"A", "B"} {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "WORKER_NAME="+name, "KAFKA_SEEDS="+seeds)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		procs = append(procs, cmd)
	}

	// Wait until the group has committed the end of every partition.
	adm := kadm.NewClient(cl)
	for done := false; !done; {
		time.Sleep(200 * time.Millisecond)
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			log.Fatal(err)
		}
		committed, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			log.Fatal(err)
		}
		done = true
		ends.Each(func(o kadm.ListedOffset) {
			if c, ok := committed.Lookup(topic, o.Partition); !ok || c.At < o.Offset {
				done = false
			}
		})
	}
	fmt.Println("the group committed every record; stopping the consumers")
	for _, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
		_ = p.Wait()
	}
}

// consume is one consumer process: it runs until SIGTERM and says how many
// records it processed.
func consume(name, seeds string) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var n atomic.Int64
	err := kafka.Consume(ctx, []kgo.Opt{kgo.SeedBrokers(seeds)}, group, []string{topic},
		func(r *kgo.Record) (int, error) {
			v, err := strconv.Atoi(string(r.Value))
			if err != nil {
				return 0, err // poison: reported and skipped
			}
			return v, nil
		},
		func(ctx context.Context, v int) (int, error) {
			// The job: a call to another service, say. Errors are retried
			// with the backoff; one marked workerpool.Permanent is not.
			if v < 0 {
				return 0, workerpool.Permanent(errors.New("negative"))
			}
			time.Sleep(10 * time.Millisecond)
			n.Add(1)
			return v * 2, nil
		},
		kafka.WithWorkers(16), kafka.WithCommitInterval(100*time.Millisecond))
	if err != nil {
		log.Fatalf("consumer %s: %v", name, err)
	}
	fmt.Printf("consumer %s: processed %d records\n", name, n.Load())
}
