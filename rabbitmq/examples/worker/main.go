// Command worker publishes a batch of jobs to a RabbitMQ queue and consumes
// it with two consumer groups sharing the queue, as two processes of a worker
// program would, each a rabbitmq.Consume with its own pool of workers.
//
//	cd rabbitmq && AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ go run ./examples/worker
//
// It needs a broker: it says what to install when none answers at AMQP_URL.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/workerpool-go/workerpool"
	"github.com/workerpool-go/workerpool/rabbitmq"
)

const (
	queue = "workerpool-example"
	jobs  = 1000
)

func main() {
	url := os.Getenv("AMQP_URL")
	if url == "" {
		url = "amqp://guest:guest@127.0.0.1:5672/"
	}
	conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(3 * time.Second)})
	if err != nil {
		fmt.Fprintf(os.Stderr, "no RabbitMQ broker answers at %s: %v\n\n"+
			"Install and start one (Debian: apt-get install rabbitmq-server), or, as root in this\n"+
			"repository, `source .ci/services.sh && start_rabbitmq` for a throwaway one, which sets\n"+
			"AMQP_URL; then run this again.\n", url, err)
		os.Exit(1)
	}
	defer conn.Close()
	setup := func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(queue, true, false, false, false, nil)
		return err
	}
	publish(conn, setup)

	// A job: parse the message, do some work, fail now and then (the
	// message comes back after the backoff and succeeds on a later try).
	var processed atomic.Int64
	all := make(chan struct{})
	var once sync.Once
	job := func(ctx context.Context, n int) (int, error) {
		time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond) // the work
		if rand.IntN(20) == 0 {
			return 0, errors.New("a transient failure")
		}
		if processed.Add(1) == jobs {
			once.Do(func() { close(all) })
		}
		return n * n, nil
	}
	decode := func(d amqp.Delivery) (int, error) { return strconv.Atoi(string(d.Body)) }
	dial := func(ctx context.Context) (*amqp.Connection, error) { return amqp.Dial(url) }

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var byGroup [2]atomic.Int64
	start := time.Now()
	for g := range 2 {
		wg.Go(func() {
			err := rabbitmq.Consume(ctx, dial, queue, decode, func(ctx context.Context, n int) (int, error) {
				v, err := job(ctx, n)
				if err == nil {
					byGroup[g].Add(1)
				}
				return v, err
			},
				rabbitmq.WithWorkers(8),
				rabbitmq.WithSetup(setup),
				rabbitmq.WithBackoff(workerpool.ExponentialBackoff(50*time.Millisecond, time.Second)),
				rabbitmq.WithErrorHandler(func(d amqp.Delivery, err error) { log.Printf("group %d: %v", g, err) }))
			if err != nil {
				log.Fatal(err)
			}
		})
	}
	select {
	case <-all:
	case <-time.After(time.Minute):
		log.Print("gave up waiting")
	}
	cancel()
	wg.Wait()
	fmt.Printf("%d jobs in %v: group 0 did %d, group 1 did %d\n",
		processed.Load(), time.Since(start).Round(time.Millisecond), byGroup[0].Load(), byGroup[1].Load())
}

// publish declares the queue and publishes the batch, persistent, with
// publisher confirms.
func publish(conn *amqp.Connection, setup func(*amqp.Channel) error) {
	ch, err := conn.Channel()
	if err != nil {
		log.Fatal(err)
	}
	defer ch.Close()
	if err := setup(ch); err != nil {
		log.Fatal(err)
	}
	if _, err := ch.QueuePurge(queue, false); err != nil {
		log.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		log.Fatal(err)
	}
	var confirms []*amqp.DeferredConfirmation
	for i := range jobs {
		dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "", queue, false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(strconv.Itoa(i))})
		if err != nil {
			log.Fatal(err)
		}
		confirms = append(confirms, dc)
	}
	for _, dc := range confirms {
		if ok, err := dc.WaitContext(context.Background()); err != nil || !ok {
			log.Fatal("publish not confirmed: ", err)
		}
	}
	fmt.Printf("published %d jobs to %s\n", jobs, queue)
}
