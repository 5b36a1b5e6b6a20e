package kafka

import (
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The headers a record sent to the dead-letter topic carries besides its own.
const (
	HeaderTopic     = "workerpool-source-topic"     // the topic it came from
	HeaderPartition = "workerpool-source-partition" // its partition, in decimal
	HeaderOffset    = "workerpool-source-offset"    // its offset, in decimal
	HeaderError     = "workerpool-error"            // the error it failed with
	HeaderAttempts  = "workerpool-attempts"         // attempts made, in decimal; 0 for a decode error
)

// deadLetter produces x to the dead-letter topic and waits for the broker's
// acknowledgement, retrying with the backoff. It reports false, not sent,
// if x's partition was revoked or Consume stopped first.
func (k *consumer[J, R]) deadLetter(x *record[J], cause error) bool {
	r := x.r
	headers := append(append([]kgo.RecordHeader{}, r.Headers...),
		kgo.RecordHeader{Key: HeaderTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: HeaderOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: HeaderError, Value: []byte(cause.Error())},
		kgo.RecordHeader{Key: HeaderAttempts, Value: []byte(strconv.Itoa(x.attempts))},
	)
	for n := 1; ; n++ {
		dl := &kgo.Record{Topic: k.cfg.deadLetter, Key: r.Key, Value: r.Value, Headers: headers}
		err := k.cl.ProduceSync(k.jobCtx, dl).FirstErr()
		if err == nil {
			return true
		}
		k.cfg.onError(r, fmt.Errorf("kafka: dead-letter to %s, retrying: %w", k.cfg.deadLetter, err))
		if !k.alive(x) || !sleep(k.jobCtx, k.cfg.backoff(n)) || !k.alive(x) {
			return false
		}
	}
}

// alive reports whether x may still be worked on: its partition is assigned
// and Consume is not stopping.
func (k *consumer[J, R]) alive(x *record[J]) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.stopping && !x.p.revoking
}
