package kafka

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

// brokerEnv, when set, makes the test binary a kfake broker process instead
// of running tests: "dir,port,partitions,topic[,topic...]". It prints
// "ready" once it listens and runs until SIGTERM or SIGKILL.
const brokerEnv = "WORKERPOOL_KFAKE_BROKER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(brokerEnv); spec != "" {
		serveBroker(spec)
		return
	}
	if spec := os.Getenv(consumerEnv); spec != "" {
		serveConsumer(spec)
		return
	}
	goleak.VerifyTestMain(m)
}

func serveBroker(spec string) {
	f := strings.Split(spec, ",")
	port, _ := strconv.Atoi(f[1])
	parts, _ := strconv.Atoi(f[2])
	c, err := kfake.NewCluster(clusterOpts(port, int32(parts), f[3:], kfake.DataDir(f[0]))...)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	<-stop
	c.Close()
}

// clusterOpts are the options of every test broker: one node on a loopback
// port, the topics seeded, and group timers short enough for tests (KIP-848
// members heartbeat every 200 ms).
func clusterOpts(port int, partitions int32, topics []string, more ...kfake.Opt) []kfake.Opt {
	return append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.SeedTopics(partitions, topics...),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
		kfake.BrokerConfigs(map[string]string{
			"group.consumer.heartbeat.interval.ms":     "200",
			"group.consumer.min.heartbeat.interval.ms": "100",
		}),
	}, more...)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newCluster starts an in-process kfake broker with the topics, each of
// partitions partitions, and returns its seed address.
func newCluster(t testing.TB, partitions int32, topics ...string) string {
	seeds, _ := newClusterWith(t, partitions, topics...)
	return seeds
}

// newClusterWith is newCluster that also returns the cluster.
func newClusterWith(t testing.TB, partitions int32, topics ...string) (string, *kfake.Cluster) {
	t.Helper()
	c, err := kfake.NewCluster(clusterOpts(freePort(t), partitions, topics)...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0], c
}

// brokerProcess is a kfake broker run as a separate process, so that a test
// can kill it with SIGKILL and start it again on the same data.
type brokerProcess struct {
	t     testing.TB
	spec  string
	port  int
	cmd   *exec.Cmd
	seeds string
}

// startBrokerProcess starts a broker process with its data in a temporary
// folder.
func startBrokerProcess(t testing.TB, partitions int, topics ...string) *brokerProcess {
	t.Helper()
	port := freePort(t)
	b := &brokerProcess{t: t, port: port, seeds: fmt.Sprintf("127.0.0.1:%d", port),
		spec: fmt.Sprintf("%s,%d,%d,%s", t.TempDir(), port, partitions, strings.Join(topics, ","))}
	b.start()
	t.Cleanup(func() { b.stop(syscall.SIGTERM) })
	return b
}

func (b *brokerProcess) start() {
	b.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), brokerEnv+"="+b.spec)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(b.t, err)
	require.NoError(b.t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(b.t, err, "the broker process did not start")
	require.Equal(b.t, "ready\n", line)
	go func() { _, _ = bufio.NewReader(out).WriteTo(discard{}) }()
	b.cmd = cmd
}

// stop stops the broker with sig and waits for it to exit.
func (b *brokerProcess) stop(sig syscall.Signal) {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(sig)
	_ = b.cmd.Wait()
	b.cmd = nil
}

// restart kills the broker with SIGKILL and starts it again on its data.
func (b *brokerProcess) restart() {
	b.stop(syscall.SIGKILL)
	b.start()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// clientOpts are the kgo options every test consumer gets: the seeds, and
// group timers short enough for tests.
func clientOpts(seeds string, more ...kgo.Opt) []kgo.Opt {
	return append([]kgo.Opt{
		kgo.SeedBrokers(seeds),
		kgo.SessionTimeout(2 * time.Second),
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.RebalanceTimeout(5 * time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	}, more...)
}

// produce writes n records to topic, record i to partition i % partitions
// with key keyOf(i) (nil when keyOf is nil) and value i in decimal, and waits
// for all of them.
func produce(t testing.TB, seeds, topic string, partitions, n int, keyOf func(i int) []byte) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer cl.Close()
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Value: []byte(strconv.Itoa(i)), Partition: int32(i % partitions)}
		if keyOf != nil {
			rs[i].Key = keyOf(i)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, rs...).FirstErr())
}

// watchdog bounds waits for what must happen; it decides no outcome.
const watchdog = 60 * time.Second

// offsets returns, per partition of topic, the end offset and the offset
// group committed (-1: none).
func offsets(t testing.TB, seeds, group, topic string) (end, committed map[int32]int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	require.NoError(t, err)
	got, err := adm.FetchOffsets(ctx, group)
	require.NoError(t, err)
	end, committed = map[int32]int64{}, map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		end[o.Partition] = o.Offset
		committed[o.Partition] = -1
		if c, ok := got.Lookup(topic, o.Partition); ok {
			committed[o.Partition] = c.At
		}
	})
	return end, committed
}
