// Package kafka consumes Kafka topics as a member of a consumer group through
// a [workerpool.Pool]: records run in parallel on N workers, ordered per key
// (or per partition, or not at all), and the offset committed for a partition
// never passes a record that has not finished.
//
// A partition is an ordered log, and N workers finish its records out of
// order. Consume tracks every record it hands out: per partition, the offset
// it commits is that of the first record handed out and not yet done (done:
// succeeded, dead-lettered, or reported and skipped). So after a crash, each
// partition is replayed from there: delivery is at least once, and the
// duplicates are bounded by what was done since the last commit plus what was
// in flight.
//
// The client is franz-go's kgo; Consume builds and owns it. See [Consume].
package kafka

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/workerpool-go/workerpool"
)

// Decode turns a record into a job. An error makes the record poison: it never
// runs, and goes to the dead-letter topic (or the error handler) at once.
type Decode[J any] func(*kgo.Record) (J, error)

// DefaultFetchMaxWait is the FetchMaxWait Consume sets unless client sets its
// own. A paused partition is resumed on the next fetch, which waits up to
// FetchMaxWait for data: with kgo's default of 5 s, resumed partitions were
// seen to trickle for minutes.
const DefaultFetchMaxWait = 300 * time.Millisecond

// controlled are the kgo options that Consume sets itself; client must not
// hold them.
var controlled = []string{
	"ConsumerGroup", "ShareGroup", "ConsumeTopics", "ConsumePartitions", "ConsumeRegex",
	"OnPartitionsAssigned", "OnPartitionsRevoked", "OnPartitionsLost", "OnPartitionsCallbackBlocked",
	"DisableAutoCommit", "AutoCommitMarks", "AutoCommitInterval", "AutoCommitCallback",
	"BlockRebalanceOnPoll", "AdjustFetchOffsetsFn", "OnOffsetsFetched",
}

// optName returns the name of the kgo function that made o, such as
// "ConsumerGroup": kgo's options are structs holding one closure, named after
// the function that returned it. kgo's own Client.OptValue reads options the
// same way, by their function's name.
func optName(o kgo.Opt) string {
	v := reflect.ValueOf(o)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || v.NumField() != 1 || v.Field(0).Kind() != reflect.Func {
		return ""
	}
	// "github.com/twmb/franz-go/pkg/kgo.ConsumerGroup.func1", or, where the
	// call was inlined, "example.com/app.main.ConsumerGroup.func1": the name
	// is the one before the last.
	name := runtime.FuncForPC(v.Field(0).Pointer()).Name()
	parts := strings.Split(name[strings.LastIndexByte(name, '/')+1:], ".")
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2]
}

// Consume consumes topics as member of group through a workerpool.Pool running
// fn. It owns the kgo client built from client (seeds, TLS, SASL...); it
// panics if client holds an option it must control (ConsumerGroup,
// ConsumeTopics, OnPartitions*, DisableAutoCommit, BlockRebalanceOnPoll...).
// It blocks until ctx ends, then drains and returns nil; it returns an error
// early only for what reconnecting cannot fix (unknown topic, auth).
//
// Each record is decoded with decode and run with fn, ordered as
// [WithOrdering] says. A record whose attempt fails with a retryable error
// runs again after the backoff ([WithBackoff]), on a timer that holds no
// worker and blocks only its key; one that fails for good (a decode error, an
// error marked workerpool.Permanent, its last allowed attempt) goes to the
// dead-letter topic ([WithDeadLetter]) or to the error handler, and counts as
// done.
//
// Per partition, the offset committed is that of the first record handed out
// and not yet done: committed every [WithCommitInterval], synchronously when
// the partition is revoked and when Consume returns, and never past an
// unfinished record. Consume holds at most [WithMaxInFlight] records, and
// takes at most half of them from one poll. A partition is paused when it
// holds half of them (so that a partition whose keys wait never holds them
// all), or when the records from its commit point to its fetch position
// reach four times the cap, at least 1,024 (what a crash replays); it is
// resumed at half of either. Every partition revoked or lost
// is resumed.
//
// A revoked partition stops handing out records, waits up to
// [WithRevokeTimeout] for its running jobs, commits and is forgotten; results
// that arrive after that are dropped. A lost partition is forgotten at once,
// without a commit.
//
// Once ctx ends, no record starts; Consume waits up to [WithDrainTimeout] for
// the running jobs (then cancels their contexts and waits for them to
// return), commits, leaves the group and returns nil. Records that waited
// behind their key or for a retry are processed again by the next member.
//
// Consume sets kgo.FetchMaxWait to [DefaultFetchMaxWait] unless client sets
// it. It works with the classic group protocol (cooperative-sticky, kgo's
// default) and with KIP-848 groups (kgo.ServerSideBalancer in client).
//
// Panics if ctx, decode or fn is nil, group is empty, topics is empty or
// holds an empty name, or client holds a nil option or one Consume controls.
func Consume[J, R any](ctx context.Context, client []kgo.Opt, group string, topics []string,
	decode Decode[J], fn workerpool.Func[J, R], opts ...Option) error {
	switch {
	case ctx == nil:
		panic("kafka: Consume: nil Context")
	case decode == nil || fn == nil:
		panic("kafka: Consume: decode and fn must not be nil")
	case group == "":
		panic(`kafka: Consume(group ""): group must not be empty`)
	case len(topics) == 0 || contains(topics, ""):
		panic(fmt.Sprintf("kafka: Consume(topics %q): at least one topic, none empty", topics))
	}
	for _, o := range client {
		if o == nil {
			panic("kafka: Consume: nil kgo.Opt in client")
		}
		if name := optName(o); contains(controlled, name) {
			panic(fmt.Sprintf("kafka: Consume: client holds kgo.%s, which Consume sets itself", name))
		}
	}
	c := newConfig(opts)
	k := &consumer[J, R]{cfg: &c, decode: decode, parts: map[string]map[int32]*partition[J]{},
		leftover: map[string]map[int32]*partition[J]{}}
	k.space = make(chan struct{}, 1)
	return k.run(ctx, client, group, topics, fn)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// consumer is the state of one Consume call.
type consumer[J, R any] struct {
	cfg    *config
	decode Decode[J]
	cl     *kgo.Client
	pool   *workerpool.Pool[*record[J], R]
	jobCtx context.Context // the jobs' context: ends after the drain timeout

	mu       sync.Mutex
	parts    map[string]map[int32]*partition[J] // assigned now; guarded by mu
	leftover map[string]map[int32]*partition[J] // handed over with records running; guarded by mu
	held     int                                // records handed out and not done; guarded by mu
	stopping bool                               // ctx ended: no record starts; guarded by mu
	timers   map[*time.Timer]struct{}           // retries waiting; guarded by mu
	space    chan struct{}                      // a record was done (capacity 1)

	attempts sync.WaitGroup // goroutines running an attempt or a dead-letter produce
}

func (k *consumer[J, R]) run(ctx context.Context, client []kgo.Opt, group string, topics []string,
	fn workerpool.Func[J, R]) error {
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	k.jobCtx = jobCtx
	k.timers = map[*time.Timer]struct{}{}

	opts := append([]kgo.Opt{kgo.FetchMaxWait(DefaultFetchMaxWait)}, client...)
	opts = append(opts,
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(k.assigned),
		kgo.OnPartitionsRevoked(k.revoked),
		kgo.OnPartitionsLost(k.lost),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	k.cl = cl
	poolOpts := append(append([]workerpool.Option{}, k.cfg.poolOpts...),
		workerpool.WithWorkers(k.cfg.workers), workerpool.WithBufferSize(k.cfg.buffer),
		workerpool.WithContext(jobCtx))
	k.pool = workerpool.New(func(ctx context.Context, x *record[J]) (R, error) { return fn(ctx, x.value) }, poolOpts...)

	err = k.check(ctx, topics)
	if err == nil {
		committer := make(chan struct{})
		go func() {
			defer close(committer)
			k.commitEvery(ctx)
		}()
		err = k.poll(ctx)
		<-committer
	}
	k.drain(cancelJobs)
	k.pool.Close()
	k.commitAll(context.Background())
	cl.Close()
	return err
}

// check returns an error if a topic does not exist or access is refused:
// what reconnecting cannot fix. Other errors (no broker reachable yet) are
// retried until ctx ends.
func (k *consumer[J, R]) check(ctx context.Context, topics []string) error {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	for n := 1; ; n++ {
		resp, err := req.RequestWith(ctx, k.cl)
		if err == nil {
			for _, t := range resp.Topics {
				if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
					return fmt.Errorf("kafka: topic %q: %w", *t.Topic, err)
				}
			}
			return nil
		}
		if fatal(err) {
			return fmt.Errorf("kafka: %w", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		k.cfg.onError(nil, fmt.Errorf("metadata, retrying: %w", err))
		if !sleep(ctx, workerpool.ExponentialBackoff(100*time.Millisecond, 5*time.Second)(n)) {
			return nil
		}
	}
}

// fatal reports whether err is one that reconnecting cannot fix.
func fatal(err error) bool {
	for _, e := range []error{kerr.UnknownTopicOrPartition, kerr.TopicAuthorizationFailed,
		kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed, kerr.SaslAuthenticationFailed,
		kerr.UnsupportedSaslMechanism, kerr.IllegalSaslState, kerr.InvalidTopicException} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// poll fetches records while ctx lasts and room is left under the cap on
// records held, and hands them out.
func (k *consumer[J, R]) poll(ctx context.Context) error {
	for {
		k.mu.Lock()
		room := k.cfg.maxInFlight - k.held
		k.mu.Unlock()
		if room <= 0 {
			select {
			case <-k.space:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		// No more than a partition's window at once: a poll that returned a
		// whole cap's worth of one partition would leave no room for the
		// others while that partition's keys wait (it is paused at its
		// window, see handOut).
		fs := k.cl.PollRecords(ctx, min(room, k.window()))
		if ctx.Err() != nil {
			k.cl.AllowRebalance()
			return nil
		}
		var fatalErr error
		fs.EachError(func(topic string, partition int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
				return
			}
			if fatal(err) && fatalErr == nil {
				fatalErr = fmt.Errorf("kafka: %s/%d: %w", topic, partition, err)
				return
			}
			k.cfg.onError(nil, fmt.Errorf("fetch %s/%d: %w", topic, partition, err))
		})
		k.handOut(fs)
		k.cl.AllowRebalance()
		if fatalErr != nil {
			return fatalErr
		}
	}
}

// handOut decodes the records of fs, adds them to their partitions and
// starts those whose key is free. A partition whose backlog reaches its
// window is paused.
func (k *consumer[J, R]) handOut(fs kgo.Fetches) {
	var start []*record[J]
	fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
		if len(ftp.Records) == 0 {
			return
		}
		xs := make([]*record[J], len(ftp.Records))
		for i, r := range ftp.Records {
			x := &record[J]{r: r, key: orderingKey(r, k.cfg.ordering)}
			x.value, x.poison = k.decode(r)
			xs[i] = x
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		p := k.parts[ftp.Topic][ftp.Partition]
		if p == nil || p.gone {
			return // not ours (any more): its next owner fetches them
		}
		for _, x := range xs {
			x.p = p
			k.held++
			if p.add(x, k.cfg.ordering) {
				start = append(start, x)
			}
		}
		if !p.paused && k.mustPause(p) {
			// Under mu, as every pause and resume: a resume decided by
			// finish must not overtake this pause.
			p.paused = true
			k.cl.PauseFetchPartitions(map[string][]int32{p.topic: {p.id}})
		}
	})
	for _, x := range start {
		k.start(x)
	}
}

// window is how many records of the cap one partition may hold: half of it,
// so that a partition whose keys wait never holds them all.
func (k *consumer[J, R]) window() int { return max(1, k.cfg.maxInFlight/2) }

// span bounds the records from a partition's commit point to its fetch
// position, done or not: what a crash replays, and what its tracking holds
// in memory while the record at its commit point waits (a long backoff).
func (k *consumer[J, R]) span() int { return max(4*k.cfg.maxInFlight, 1024) }

// mustPause reports whether p is to be paused: it holds its window, or its
// span is full. Pausing drops what the client had fetched for p (it fetches
// it again after the resume), which is why the default buffer makes the
// window dozens of records. Called with mu held.
func (k *consumer[J, R]) mustPause(p *partition[J]) bool {
	return p.undone >= k.window() || p.held() >= k.span()
}

// mayResume reports whether a paused p may fetch again: it is down to half
// its window and half its span. Called with mu held.
func (k *consumer[J, R]) mayResume(p *partition[J]) bool {
	return p.undone <= k.window()/2 && p.held() <= k.span()/2
}

// start runs an attempt of x, or dead-letters it if it is poison, on a
// goroutine of its own: the pool's Do waits for room without holding up
// Consume.
func (k *consumer[J, R]) start(x *record[J]) {
	k.mu.Lock()
	if k.stopping || x.p.gone {
		k.mu.Unlock()
		return
	}
	x.p.running++
	k.attempts.Add(1)
	k.mu.Unlock()
	go func() {
		defer k.attempts.Done()
		if x.poison != nil {
			k.failed(x, fmt.Errorf("kafka: poison: decode: %w", x.poison))
			return
		}
		x.attempts++
		_, err := k.pool.Do(k.jobCtx, x)
		switch {
		case err == nil:
			k.finish(x)
		case workerpool.IsPermanent(err) || x.attempts >= k.cfg.maxAttempts || k.jobCtx.Err() != nil:
			k.failed(x, err)
		default:
			k.retry(x)
		}
	}()
}

// retry runs x again after its backoff, holding no worker; its key stays
// blocked meanwhile.
func (k *consumer[J, R]) retry(x *record[J]) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ended(x.p)
	if k.stopping || x.p.gone {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(k.cfg.backoff(x.attempts), func() {
		k.mu.Lock()
		_, ok := k.timers[t]
		delete(k.timers, t)
		k.mu.Unlock()
		if ok {
			k.start(x)
		}
	})
	k.timers[t] = struct{}{}
}

// failed handles a record that failed for good with err: reported, then
// dead-lettered (once acknowledged) or skipped; either way done.
func (k *consumer[J, R]) failed(x *record[J], err error) {
	k.cfg.onError(x.r, err)
	if k.cfg.deadLetter != "" && !k.deadLetter(x, err) {
		k.mu.Lock()
		k.ended(x.p)
		k.mu.Unlock()
		return // the partition went away or Consume stopped first: not done
	}
	k.finish(x)
}

// finish counts x done, and starts the next record of its key.
func (k *consumer[J, R]) finish(x *record[J]) {
	k.mu.Lock()
	k.ended(x.p)
	if x.p.gone {
		k.mu.Unlock()
		return // revoked or lost meanwhile: dropped
	}
	next := x.p.finish(x, k.cfg.ordering) // nil once revoking: forget emptied waiting
	if x.p.revoking {
		k.mu.Unlock()
		return // counted out of held by forget; done counts for the revoke's commit
	}
	k.held--
	if x.p.paused && k.mayResume(x.p) {
		x.p.paused = false
		k.cl.ResumeFetchPartitions(map[string][]int32{x.p.topic: {x.p.id}})
	}
	k.mu.Unlock()
	select {
	case k.space <- struct{}{}:
	default:
	}
	if next != nil {
		k.start(next)
	}
}

// ended counts an attempt of p's out. Called with mu held.
func (k *consumer[J, R]) ended(p *partition[J]) {
	p.running--
	if p.running == 0 && p.drained != nil {
		close(p.drained)
		p.drained = nil
	}
}

// commitEvery commits every commit interval until ctx ends.
func (k *consumer[J, R]) commitEvery(ctx context.Context) {
	t := time.NewTicker(k.cfg.commitInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			k.commitAll(ctx)
		case <-ctx.Done():
			return
		}
	}
}

// commitAll commits every assigned partition whose commit point moved.
func (k *consumer[J, R]) commitAll(ctx context.Context) {
	var all []*partition[J]
	k.mu.Lock()
	for _, ps := range k.parts {
		for _, p := range ps {
			all = append(all, p)
		}
	}
	k.mu.Unlock()
	k.commit(ctx, all)
}

// commit commits the commit point of every partition in only that moved
// since its last commit. kgo calls the revoke callback with no partition at
// the end of every cooperative session: an empty only commits nothing.
func (k *consumer[J, R]) commit(ctx context.Context, only []*partition[J]) {
	k.mu.Lock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	points := map[*partition[J]]int64{}
	for _, p := range only {
		o, e, ok := p.commitPoint()
		if !ok || o <= p.committed || p.gone { // gone: its next owner commits it
			continue
		}
		if offsets[p.topic] == nil {
			offsets[p.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[p.topic][p.id] = kgo.EpochOffset{Epoch: e, Offset: o}
		points[p] = o
	}
	k.mu.Unlock()
	if len(offsets) == 0 {
		return
	}
	k.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				k.cfg.onError(nil, fmt.Errorf("commit: %w", err))
			}
			return
		}
		failed := map[string]map[int32]bool{}
		for _, t := range resp.Topics {
			for _, pr := range t.Partitions {
				if err := kerr.ErrorForCode(pr.ErrorCode); err != nil {
					k.cfg.onError(nil, fmt.Errorf("commit %s/%d: %w", t.Topic, pr.Partition, err))
					if failed[t.Topic] == nil {
						failed[t.Topic] = map[int32]bool{}
					}
					failed[t.Topic][pr.Partition] = true
				}
			}
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		for p, o := range points {
			if !failed[p.topic][p.id] && o > p.committed {
				p.committed = o
			}
		}
	})
}

// assigned starts tracking newly assigned partitions. A partition that this
// member lost (or revoked past the revoke timeout) and gets back may still
// run records of its old assignment: the new one starts once those ended, or
// after the revoke timeout, so that two records of a key never run at once
// in one member.
func (k *consumer[J, R]) assigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	var old []*partition[J]
	k.mu.Lock()
	for t, ids := range assigned {
		for _, id := range ids {
			if p := k.leftover[t][id]; p != nil {
				delete(k.leftover[t], id)
				if p.running > 0 {
					p.drained = make(chan struct{})
					old = append(old, p)
				}
			}
		}
	}
	k.mu.Unlock()
	k.awaitRunning(ctx, old)
	k.mu.Lock()
	defer k.mu.Unlock()
	for t, ids := range assigned {
		if k.parts[t] == nil {
			k.parts[t] = map[int32]*partition[J]{}
		}
		for _, id := range ids {
			k.parts[t][id] = newPartition[J](t, id)
		}
	}
	if testHookAssigned != nil {
		testHookAssigned(assigned)
	}
}

// testHookAssigned, when set by a test, is told every assignment.
var testHookAssigned func(map[string][]int32)

// awaitRunning waits until the partitions in ps, whose drained channels are
// set, have no running record, for the revoke timeout at most.
func (k *consumer[J, R]) awaitRunning(ctx context.Context, ps []*partition[J]) {
	if len(ps) == 0 {
		return
	}
	deadline := time.NewTimer(k.cfg.revokeTimeout)
	defer deadline.Stop()
	for _, p := range ps {
		k.mu.Lock()
		drained := p.drained
		k.mu.Unlock()
		if drained == nil {
			continue
		}
		select {
		case <-drained:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// revoked stops handing out the records of the revoked partitions, waits up
// to the revoke timeout for their running jobs, commits and forgets them.
func (k *consumer[J, R]) revoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	ps := k.forget(revoked, func(p *partition[J]) {
		if p.running > 0 && p.drained == nil {
			p.drained = make(chan struct{})
		}
	})
	k.awaitRunning(ctx, ps)
	k.commit(ctx, ps)
	k.handOver(ps)
}

// lost forgets the lost partitions at once, without a commit: their results
// are dropped.
func (k *consumer[J, R]) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	k.handOver(k.forget(lost, nil))
}

// handOver marks the partitions gone: the results of their records still
// running are dropped, and a partition with records still running is kept
// for assigned.
func (k *consumer[J, R]) handOver(ps []*partition[J]) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range ps {
		p.gone = true
		p.waiting = nil
		p.drained = nil
		if p.running > 0 {
			if k.leftover[p.topic] == nil {
				k.leftover[p.topic] = map[int32]*partition[J]{}
			}
			k.leftover[p.topic][p.id] = p
		}
	}
}

// forget takes the partitions out of the assignment, so that nothing more of
// them starts, resumes those that were paused, and returns them. each, if not
// nil, is called for each with mu held.
func (k *consumer[J, R]) forget(tps map[string][]int32, each func(*partition[J])) []*partition[J] {
	var ps []*partition[J]
	resume := map[string][]int32{}
	k.mu.Lock()
	for t, ids := range tps {
		for _, id := range ids {
			p := k.parts[t][id]
			if p == nil {
				continue
			}
			delete(k.parts[t], id)
			p.revoking = true
			k.held -= p.undone
			// Queued records must not start: only those running finish.
			for key := range p.waiting {
				p.waiting[key] = nil
			}
			if each != nil {
				each(p)
			}
			p.paused = false
			ps = append(ps, p)
		}
		resume[t] = ids // resumed whether we paused it or not: never left paused
	}
	if len(resume) > 0 {
		k.cl.ResumeFetchPartitions(resume)
	}
	k.mu.Unlock()
	select {
	case k.space <- struct{}{}:
	default:
	}
	return ps
}

// drain stops records from starting, waits up to the drain timeout for the
// running ones, then cancels their contexts and waits for them to return.
func (k *consumer[J, R]) drain(cancelJobs context.CancelFunc) {
	k.mu.Lock()
	k.stopping = true
	for t := range k.timers {
		t.Stop() // its record is not done: the next member runs it
		delete(k.timers, t)
	}
	k.mu.Unlock()
	done := make(chan struct{})
	go func() {
		k.attempts.Wait()
		close(done)
	}()
	t := time.NewTimer(k.cfg.drainTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		cancelJobs()
		<-done
	}
}
