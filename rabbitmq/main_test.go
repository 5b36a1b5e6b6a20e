package rabbitmq_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	"github.com/workerpool-go/workerpool/rabbitmq"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// watchdog bounds waits for what must happen; it decides no outcome.
const watchdog = 90 * time.Second

// brokerURL is the broker the tests run against: AMQP_URL, which .ci/run
// sets after starting a throwaway broker. Outside CI, without it, the test
// is skipped with a message that says how to run it; in CI it fails.
func brokerURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("AMQP_URL")
	if url == "" {
		if servicesRequired() {
			t.Fatal("AMQP_URL is not set: .ci/run must start RabbitMQ for these tests")
		}
		t.Skip("AMQP_URL is not set: as root, `source .ci/services.sh && start_rabbitmq` starts a " +
			"throwaway broker and sets it; `stop_services` stops it")
	}
	return url
}

func dialer(url string) rabbitmq.Dial {
	return func(ctx context.Context) (*amqp.Connection, error) {
		return amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	}
}

// admin is a connection and channel of the test's own, to declare, publish
// and inspect.
type admin struct {
	conn *amqp.Connection
	ch   *amqp.Channel
}

func newAdmin(t testing.TB, url string) *admin {
	t.Helper()
	conn, err := amqp.Dial(url)
	require.NoError(t, err)
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.Confirm(false))
	a := &admin{conn, ch}
	t.Cleanup(func() { _ = conn.Close() })
	return a
}

var queues atomic.Int64

// queue declares a new durable queue with args and returns its name.
func (a *admin) queue(t testing.TB, args amqp.Table) string {
	t.Helper()
	name := fmt.Sprintf("test-%s-%d-%d", strings.ReplaceAll(t.Name(), "/", "-"), os.Getpid(), queues.Add(1))
	_, err := a.ch.QueueDeclare(name, true, false, false, false, args)
	require.NoError(t, err)
	return name
}

// publish publishes bodies to queue, persistent, and waits for the
// confirms.
func (a *admin) publish(t testing.TB, queue string, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		dc, err := a.ch.PublishWithDeferredConfirmWithContext(context.Background(), "", queue, false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "text/plain", Body: []byte(b)})
		require.NoError(t, err)
		ok, err := dc.WaitContext(context.Background())
		require.NoError(t, err)
		require.True(t, ok)
	}
}

// ready returns how many messages of queue are ready (not delivered).
func (a *admin) ready(t testing.TB, queue string) int {
	t.Helper()
	q, err := a.ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	require.NoError(t, err)
	return q.Messages
}

// rabbitmqctl runs rabbitmqctl against the test broker's node. Outside CI
// without the node's name it skips; in CI it fails.
func rabbitmqctl(t testing.TB, args ...string) string {
	t.Helper()
	node := os.Getenv("RABBITMQ_NODENAME")
	if node == "" {
		if servicesRequired() {
			t.Fatal("RABBITMQ_NODENAME is not set: .ci/run must start RabbitMQ with .ci/services.sh")
		}
		t.Skip("RABBITMQ_NODENAME is not set: start the broker with .ci/services.sh for this test")
	}
	out, err := exec.Command("rabbitmqctl", append([]string{"-q", "-n", node}, args...)...).CombinedOutput()
	require.NoError(t, err, "rabbitmqctl %v: %s", args, out)
	return string(out)
}

// unacked returns the unacknowledged deliveries of queue, as the broker
// counts them.
func unacked(t testing.TB, queue string) int {
	t.Helper()
	for _, line := range strings.Split(rabbitmqctl(t, "list_queues", "name", "messages_unacknowledged"), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == queue {
			n, err := strconv.Atoi(f[1])
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("queue %s not listed", queue)
	return 0
}

// restartBroker kills the broker with SIGKILL and starts it again with the
// same variables, waiting until it is up. Durable queues and persistent
// messages survive.
func restartBroker(t testing.TB) {
	t.Helper()
	node := os.Getenv("RABBITMQ_NODENAME")
	out := os.Getenv("RABBITMQ_SERVER_OUT")
	if node == "" || out == "" {
		if servicesRequired() {
			t.Fatal("RABBITMQ_NODENAME and RABBITMQ_SERVER_OUT are not set: .ci/run must start RabbitMQ with .ci/services.sh")
		}
		t.Skip("RABBITMQ_NODENAME is not set: start the broker with .ci/services.sh for this test")
	}
	pid, err := strconv.Atoi(strings.Trim(rabbitmqctl(t, "eval", "os:getpid()."), "\"\n"))
	require.NoError(t, err, "the broker's pid")
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	// Started through a shell that returns at once, so that no goroutine of
	// the test waits for the broker.
	start := exec.Command("bash", "-c", `rabbitmq-server >> "$RABBITMQ_SERVER_OUT" 2>&1 &`)
	require.NoError(t, start.Run())
	deadline := time.Now().Add(watchdog)
	for {
		err := exec.Command("rabbitmqctl", "-q", "-n", node, "await_startup").Run()
		if err == nil {
			return
		}
		require.True(t, time.Now().Before(deadline), "the broker did not come back")
		time.Sleep(200 * time.Millisecond) // polls a process outside the test; decides nothing
	}
}

// servicesRequired reports whether a missing broker is a failure rather than
// a skip: in CI, and under scripts/test.sh, which starts one.
func servicesRequired() bool {
	return os.Getenv("CI") == "true" || os.Getenv("WORKERPOOL_REQUIRE_SERVICES") == "1"
}
