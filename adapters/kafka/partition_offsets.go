package kafka

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// Where partitions begin and end, for the readers of the log (replay, stats, rebuilds): a read
// client, the partitions of topics with their ranges, and offsets asked of the leaders.

// PartitionRange is a partition and a range of its offsets [Start, End).
type PartitionRange struct {
	Topic     string
	Partition int32
	Start     int64
	End       int64
}

// TopicNotFoundError: a reader was asked for a topic the cluster does not have.
type TopicNotFoundError struct{ Topic string }

func (e TopicNotFoundError) Error() string { return "topic " + e.Topic + " does not exist" }

// NewReadClient connects a Sarama client for reading tools: it never creates topics and gives
// up on an unreachable broker within seconds. Its error says which brokers it tried.
func NewReadClient(cfg Config) (sarama.Client, error) {
	sc := cfg.Sarama()
	if cfg.ClientID == "" {
		sc.ClientID = "chorusctl"
	}
	if sc.Consumer.Group.Session.Timeout <= 0 { // a Config made for reading only
		sc.Consumer.Group.Session.Timeout, sc.Consumer.Group.Heartbeat.Interval = 10*time.Second, 3*time.Second
	}
	sc.Metadata.AllowAutoTopicCreation = false
	sc.Metadata.Retry.Max = 1
	sc.Metadata.Retry.Backoff = 100 * time.Millisecond
	sc.Net.DialTimeout = 5 * time.Second
	sc.Net.ReadTimeout = 30 * time.Second
	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Kafka at %s: %w", strings.Join(cfg.Brokers, ","), rootCause(err))
	}
	return client, nil
}

// rootCause drops Sarama's "client has run out of available brokers to talk to" wrapping, for
// a one-line message: what the last attempt met (say, connection refused).
func rootCause(err error) error {
	if !errors.Is(err, sarama.ErrOutOfBrokers) {
		return err
	}
	if u, ok := err.(interface{ Unwrap() error }); ok {
		if j, ok := u.Unwrap().(interface{ Unwrap() []error }); ok {
			if es := j.Unwrap(); len(es) > 0 {
				return es[len(es)-1]
			}
		}
	}
	return err
}

// LogRanges lists every partition of topics with its log start offset (Start) and its last
// stable offset (End), asking each leader once.
func LogRanges(client sarama.Client, topics []string) ([]PartitionRange, error) {
	var out []PartitionRange
	for _, t := range topics {
		parts, err := client.Partitions(t)
		if err != nil {
			if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				return nil, TopicNotFoundError{Topic: t}
			}
			return nil, fmt.Errorf("partitions of %s: %w", t, err)
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		for _, p := range parts {
			out = append(out, PartitionRange{Topic: t, Partition: p})
		}
	}
	starts, err := ListOffsets(client, out, func(PartitionRange) int64 { return sarama.OffsetOldest })
	if err != nil {
		return nil, err
	}
	ends, err := ListOffsets(client, out, func(PartitionRange) int64 { return sarama.OffsetNewest })
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Start, out[i].End = starts[i], ends[i]
	}
	return out, nil
}

// ListOffsets asks the leaders (read committed, one request per leader) for an offset of each
// partition: at(p) is a timestamp in milliseconds, or sarama.OffsetOldest / OffsetNewest (the
// last stable offset). A timestamp answers the first offset whose record timestamp is at or
// after it, or -1 if there is none below the last stable offset.
func ListOffsets(client sarama.Client, parts []PartitionRange, at func(PartitionRange) int64) ([]int64, error) {
	type req struct {
		r   *sarama.OffsetRequest
		idx []int
	}
	byBroker := map[*sarama.Broker]*req{}
	var order []*sarama.Broker
	for i, p := range parts {
		b, err := client.Leader(p.Topic, p.Partition)
		if err != nil {
			return nil, fmt.Errorf("leader of %s/%d: %w", p.Topic, p.Partition, err)
		}
		r := byBroker[b]
		if r == nil {
			r = &req{r: &sarama.OffsetRequest{Version: 5, IsolationLevel: sarama.ReadCommitted}}
			byBroker[b] = r
			order = append(order, b)
		}
		r.r.AddBlock(p.Topic, p.Partition, at(p), 1)
		r.idx = append(r.idx, i)
	}
	out := make([]int64, len(parts))
	for _, b := range order {
		r := byBroker[b]
		resp, err := b.GetAvailableOffsets(r.r)
		if reopenIfBroken(b, client.Config(), err) {
			resp, err = b.GetAvailableOffsets(r.r)
		}
		if err != nil {
			return nil, fmt.Errorf("list offsets: %w", err)
		}
		for _, i := range r.idx {
			p := parts[i]
			blk := resp.GetBlock(p.Topic, p.Partition)
			if blk == nil {
				return nil, fmt.Errorf("list offsets %s/%d: no answer", p.Topic, p.Partition)
			}
			if blk.Err != sarama.ErrNoError {
				return nil, fmt.Errorf("list offsets %s/%d: %w", p.Topic, p.Partition, blk.Err)
			}
			out[i] = blk.Offset
		}
	}
	return out, nil
}
