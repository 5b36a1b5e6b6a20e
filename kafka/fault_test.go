package kafka

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumerEnv, when set, makes the test binary a consumer process instead of
// running tests: "seeds,group,topic,logfile". It consumes until SIGTERM,
// writing a line per event to logfile with one write each, so that a SIGKILL
// loses none that happened: "A topic partition..." for an assignment, "S p
// offset key" when a record starts and "E p offset key" when it ends. Every
// 97th offset of a partition runs for 300 ms, the rest for 100 µs.
const consumerEnv = "WORKERPOOL_KAFKA_CONSUMER"

func serveConsumer(spec string) {
	f := strings.Split(spec, ",")
	seeds, group, topic, logfile := f[0], f[1], f[2], f[3]
	out, err := os.OpenFile(logfile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	write := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = out.WriteString(fmt.Sprintf(format, args...) + "\n")
	}
	testHookAssigned = func(a map[string][]int32) {
		for t, ps := range a {
			write("A %s %v", t, ps)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	fmt.Println("ready")
	err = Consume(ctx, clientOpts(seeds), group, []string{topic},
		func(r *kgo.Record) (*kgo.Record, error) { return r, nil },
		func(_ context.Context, r *kgo.Record) (int, error) {
			write("S %d %d %s", r.Partition, r.Offset, r.Key)
			// A few records run longer than the commit interval, so that
			// commits happen while they run, behind records done after them.
			d := 100 * time.Microsecond
			if r.Offset%97 == 0 {
				d = 300 * time.Millisecond
			}
			time.Sleep(d)
			write("E %d %d %s", r.Partition, r.Offset, r.Key)
			return 0, nil
		}, WithWorkers(4), WithCommitInterval(100*time.Millisecond),
		WithErrorHandler(func(*kgo.Record, error) {}))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

// consumerProcess is a Consume call in a process of its own.
type consumerProcess struct {
	cmd *exec.Cmd
	log string
}

func startConsumerProcess(t *testing.T, seeds, logfile string) *consumerProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), consumerEnv+"="+strings.Join([]string{seeds, "fault", "f", logfile}, ","))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)
	go func() { _, _ = bufio.NewReader(out).WriteTo(discard{}) }()
	c := &consumerProcess{cmd: cmd, log: logfile}
	t.Cleanup(func() { c.stop(syscall.SIGKILL) })
	return c
}

func (c *consumerProcess) stop(sig syscall.Signal) error {
	if c.cmd == nil {
		return nil
	}
	_ = c.cmd.Process.Signal(sig)
	err := c.cmd.Wait()
	c.cmd = nil
	return err
}

// event is a line of a consumer's log.
type event struct {
	kind      byte // 'A', 'S' or 'E'
	partition int32
	offset    int64
	key       string
	assigned  []int32
}

func readLog(t *testing.T, path string) []event {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var evs []event
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 4 && (f[0] == "S" || f[0] == "E"):
			p, _ := strconv.Atoi(f[1])
			o, _ := strconv.ParseInt(f[2], 10, 64)
			evs = append(evs, event{kind: f[0][0], partition: int32(p), offset: o, key: f[3]})
		case len(f) >= 3 && f[0] == "A":
			var ps []int32
			for _, s := range strings.Fields(strings.Trim(strings.Join(f[2:], " "), "[]")) {
				p, _ := strconv.Atoi(s)
				ps = append(ps, int32(p))
			}
			evs = append(evs, event{kind: 'A', assigned: ps})
		}
	}
	return evs
}

// TestFaultsLoseNothing: 20,000 keyed records on 6 partitions, two consumer
// processes, the broker SIGKILLed at 25% and restarted, a consumer SIGKILLed
// at 50% and restarted, the broker SIGKILLed again at 75%. Every offset is
// processed at least once; the group ends committed at the end of every
// partition; within an assignment each key's offsets increase strictly and
// no two records of a key run at once in a process; no commit of the killed
// consumer passed a record it was still running; and every record it had
// started at or above its last commit is processed again after the kill.
func TestFaultsLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault test runs processes for about half a minute")
	}
	const n, partitions, keys = 20000, 6, 60 // each key on one partition
	broker := startBrokerProcess(t, partitions, "f")
	produce(t, broker.seeds, "f", partitions, n, func(i int) []byte { return []byte("k" + strconv.Itoa(i%keys)) })
	dir := t.TempDir()
	logs := []string{filepath.Join(dir, "c1.log"), filepath.Join(dir, "c2.log")}
	c1 := startConsumerProcess(t, broker.seeds, logs[0])
	c2 := startConsumerProcess(t, broker.seeds, logs[1])

	// done returns how many distinct records have ended in every log.
	done := func() int {
		seen := map[[2]int64]bool{}
		for _, l := range logs {
			for _, e := range readLog(t, l) {
				if e.kind == 'E' {
					seen[[2]int64{int64(e.partition), e.offset}] = true
				}
			}
		}
		return len(seen)
	}
	waitDone := func(want int, what string) {
		t.Helper()
		deadline := time.Now().Add(3 * watchdog)
		for done() < want {
			require.True(t, time.Now().Before(deadline), "stuck before %s: %d of %d done", what, done(), n)
			time.Sleep(20 * time.Millisecond) // polls files the processes write
		}
	}

	waitDone(n/4, "the first broker kill")
	broker.restart()

	waitDone(n/2, "the consumer kill")
	require.NoError(t, ignoreKilled(c1.stop(syscall.SIGKILL)))
	// What the killed process committed last: its partitions stay its own
	// until its session times out.
	_, committedBefore := offsets(t, broker.seeds, "fault", "f")
	killedLog := readLog(t, logs[0])
	c2Before := len(readLog(t, logs[1]))
	logs = append(logs, filepath.Join(dir, "c1-again.log"))
	c1 = startConsumerProcess(t, broker.seeds, logs[2])

	waitDone(3*n/4, "the second broker kill")
	broker.restart()

	waitDone(n, "the end")
	// A graceful stop commits what is done.
	require.NoError(t, c1.stop(syscall.SIGTERM))
	require.NoError(t, c2.stop(syscall.SIGTERM))

	end, committed := offsets(t, broker.seeds, "fault", "f")
	assert.Equal(t, end, committed, "committed = end on every partition")
	total := int64(0)
	for _, o := range end {
		total += o
	}
	assert.Equal(t, int64(n), total)

	// Per process, per partition assignment: each key's offsets increase
	// strictly, and a key never has two records running at once.
	for _, l := range logs {
		checkLog(t, l, readLog(t, l))
	}

	// The commit rule, seen at the kill: the records the killed process was
	// running had not finished, so no commit passed them.
	started := map[[2]int64]bool{}
	for _, e := range killedLog {
		k := [2]int64{int64(e.partition), e.offset}
		switch e.kind {
		case 'S':
			started[k] = true
		case 'E':
			delete(started, k)
		}
	}
	for k := range started {
		assert.LessOrEqual(t, committedBefore[int32(k[0])], k[1],
			"partition %d committed past offset %d, which was still running", k[0], k[1])
	}

	// Replayed after the SIGKILL: every record the killed process started
	// at or above the commit point read just before the kill.
	after := map[[2]int64]bool{}
	for i, l := range logs {
		evs := readLog(t, l)
		if l == logs[0] {
			continue // the killed process's log ends at the kill
		}
		if i == 1 {
			evs = evs[c2Before:]
		}
		for _, e := range evs {
			if e.kind == 'E' {
				after[[2]int64{int64(e.partition), e.offset}] = true
			}
		}
	}
	var missing []string
	for _, e := range killedLog {
		if e.kind == 'S' && e.offset >= committedBefore[e.partition] && !after[[2]int64{int64(e.partition), e.offset}] {
			missing = append(missing, fmt.Sprintf("%d@%d", e.partition, e.offset))
		}
	}
	sort.Strings(missing)
	assert.Empty(t, missing, "records the killed consumer started at or above the commit were not processed again")
}

// ignoreKilled drops the error of a process that was killed on purpose.
func ignoreKilled(err error) error {
	if ee, ok := err.(*exec.ExitError); ok && !ee.Exited() {
		return nil
	}
	return err
}

// checkLog checks one process's events: within an assignment of a partition,
// each key's offsets increase strictly and no key runs twice at once.
func checkLog(t *testing.T, name string, evs []event) {
	t.Helper()
	gen := map[int32]int{}        // partition -> how many times it was assigned
	last := map[string][2]int64{} // key -> (assignment, last offset started)
	running := map[string]int{}
	for _, e := range evs {
		switch e.kind {
		case 'A':
			for _, p := range e.assigned {
				gen[p]++
			}
		case 'S':
			running[e.key]++
			if !assert.LessOrEqual(t, running[e.key], 1, "%s: key %s ran twice at once (offset %d)", name, e.key, e.offset) {
				return
			}
			g := int64(gen[e.partition])
			if l, ok := last[e.key]; ok && l[0] == g && !assert.Greater(t, e.offset, l[1],
				"%s: key %s went from offset %d to %d within one assignment", name, e.key, l[1], e.offset) {
				return
			}
			last[e.key] = [2]int64{g, e.offset}
		case 'E':
			running[e.key]--
		}
	}
}
