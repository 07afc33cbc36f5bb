package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// Changing the partition count is a migration into new topics, never a change in place: an
// aggregate's partition is its key's hash modulo the count (PartitionFor), so with another count
// the command processor owning a command's partition would rebuild from event partitions that
// do not hold the aggregate's events. Repartition copies every log (Topics.Logs) into topics of
// the new count, each record to its key's partition there.

// RepartitionOptions says what to copy where.
type RepartitionOptions struct {
	// To are the new topics' names; each log's must differ from its name in the source.
	To Topics
	// Partitions is the new count.
	Partitions int32
	// Batch is how many records go in one transaction (0: 2000).
	Batch int
	// Started is called once the work is known: the offsets left to copy over every partition
	// (transaction markers and aborted records count; they are passed, not copied).
	Started func(offsets int64)
	// Passed is called after every committed transaction with the offsets it moved past.
	Passed func(offsets int64)
}

// RepartitionResult counts the records copied per source topic by this run.
type RepartitionResult struct {
	Copied map[string]int64
	// Resumed is how many source partitions an earlier run had started.
	Resumed int
}

// RepartitionGroup is the consumer group under which a copy into topics keeps its progress.
func RepartitionGroup(to Topics) string { return "chorus-repartition-" + to.ChatEvents }

// Repartition copies the committed records of every log of cfg.Topics into o.To with
// o.Partitions partitions (creating every topic of o.To as EnsureTopics would, the command and
// snapshot topics empty). Each source partition is read in offset order (read committed: the
// records of aborted transactions are not copied) and its records are appended in transactions
// that also commit, for the group RepartitionGroup(o.To), the source offset reached: a run that
// stops anywhere leaves the new topics holding exactly the records below the committed offsets,
// and the next run (the same transactional id fences and aborts a transaction the stopped one
// left open) goes on from there. A run after a complete one copies only what was appended to
// the sources since. An aggregate's records all come from one source partition (its key's)
// and go to one new partition in the order read, so every aggregate keeps its order; records
// of different source partitions interleave in a new partition.
func Repartition(ctx context.Context, cfg Config, o RepartitionOptions) (RepartitionResult, error) {
	res := RepartitionResult{Copied: map[string]int64{}}
	if o.Partitions < 1 {
		return res, fmt.Errorf("repartition: the partition count must be at least 1")
	}
	from, to := cfg.Topics.Logs(), o.To.Logs()
	for i := range from {
		if from[i] == to[i] {
			return res, fmt.Errorf("repartition: %s would be copied onto itself: the new topics need other names", from[i])
		}
	}
	if o.Batch <= 0 {
		o.Batch = 2000
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, cfg.Sarama())
	if err != nil {
		return res, fmt.Errorf("kafka admin: %w", err)
	}
	defer admin.Close()
	if err := ensureTopics(admin, cfg, o.To.All(), o.Partitions); err != nil {
		return res, err
	}
	// The producer first: opening it aborts what a stopped run left open, so that the offsets
	// read next are those of committed copies only.
	group := RepartitionGroup(o.To)
	sc := cfg.Sarama()
	sc.Producer.Idempotent = true
	sc.Producer.Transaction.ID = group
	sc.Producer.Transaction.Timeout = cfg.TxnTimeout()
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Producer.Retry.Max = 5
	sc.Net.MaxOpenRequests = 1
	producer, err := sarama.NewSyncProducer(cfg.Brokers, sc)
	if err != nil {
		return res, fmt.Errorf("transactional producer: %w", err)
	}
	defer producer.Close()
	client, err := NewReadClient(cfg)
	if err != nil {
		return res, err
	}
	defer client.Close()
	ranges, err := LogRanges(client, from)
	if err != nil {
		return res, err
	}
	done, err := committedOffsets(admin, group, ranges)
	if err != nil {
		return res, err
	}
	var total int64
	for i, r := range ranges {
		if d := done[i]; d > r.Start {
			ranges[i].Start = min(d, r.End)
			res.Resumed++
		}
		total += ranges[i].End - ranges[i].Start
	}
	if o.Started != nil {
		o.Started(total)
	}
	destOf := map[string]string{}
	for i := range from {
		destOf[from[i]] = to[i]
	}
	c := &copier{producer: producer, group: group, partitions: o.Partitions, passed: o.Passed}
	for _, r := range ranges {
		c.topic, c.dest, c.part, c.at = r.Topic, destOf[r.Topic], r.Partition, r.Start
		next, err := ReadCommitted(ctx, client, r.Topic, r.Partition, r.Start, func(rec Record) error {
			c.add(rec)
			if len(c.msgs) >= o.Batch {
				return c.commit(rec.Offset + 1)
			}
			return nil
		})
		if err == nil {
			err = c.commit(next)
		}
		res.Copied[r.Topic] += c.copied
		c.copied = 0
		if err != nil {
			return res, fmt.Errorf("copy %s/%d: %w (run it again to go on from the last commit)", r.Topic, r.Partition, err)
		}
	}
	return res, nil
}

// committedOffsets are the group's committed offsets of ranges' partitions (-1: none).
func committedOffsets(admin sarama.ClusterAdmin, group string, ranges []PartitionRange) ([]int64, error) {
	ask := map[string][]int32{}
	for _, r := range ranges {
		ask[r.Topic] = append(ask[r.Topic], r.Partition)
	}
	out := make([]int64, len(ranges))
	resp, err := admin.ListConsumerGroupOffsets(group, ask)
	if errors.Is(err, sarama.ErrGroupIDNotFound) || (err == nil && resp.Err == sarama.ErrGroupIDNotFound) {
		for i := range out { // kfake's answer for a group that never committed
			out[i] = -1
		}
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("offsets of group %s: %w", group, err)
	}
	if resp.Err != sarama.ErrNoError {
		return nil, fmt.Errorf("offsets of group %s: %w", group, resp.Err)
	}
	for i, r := range ranges {
		out[i] = -1
		if b := resp.GetBlock(r.Topic, r.Partition); b != nil && b.Err == sarama.ErrNoError {
			out[i] = b.Offset
		}
	}
	return out, nil
}

// copier appends the records of one source partition at a time, in transactions.
type copier struct {
	producer   sarama.SyncProducer
	group      string
	partitions int32
	passed     func(int64)

	topic, dest string
	part        int32
	at          int64 // the source offset committed last
	msgs        []*sarama.ProducerMessage
	copied      int64
}

// add queues rec for its key's partition of the new topic; a record without a key (Chorus
// writes none) keeps its partition number modulo the new count.
func (c *copier) add(rec Record) {
	p := rec.Partition % c.partitions
	if rec.Key != nil {
		p = PartitionFor(string(rec.Key), c.partitions)
	}
	headers := make([]sarama.RecordHeader, 0, len(rec.Headers))
	for _, h := range rec.Headers {
		if string(h.Key) == HeaderCommandsDecided {
			continue // a position in the old layout's command topic, which the new one does not have
		}
		headers = append(headers, *h)
	}
	c.msgs = append(c.msgs, &sarama.ProducerMessage{Topic: c.dest, Partition: p, Key: keyOf(rec.Key),
		Value: sarama.ByteEncoder(rec.Value), Timestamp: rec.Timestamp, Headers: headers})
}

func keyOf(k []byte) sarama.Encoder {
	if k == nil {
		return nil
	}
	return sarama.ByteEncoder(k)
}

// commit appends the queued records and commits the source offset next with them.
func (c *copier) commit(next int64) error {
	if next <= c.at && len(c.msgs) == 0 {
		return nil
	}
	if err := c.producer.BeginTxn(); err != nil {
		return fmt.Errorf("begin txn: %w", err)
	}
	err := func() error {
		if len(c.msgs) > 0 {
			if err := c.producer.SendMessages(c.msgs); err != nil {
				return fmt.Errorf("append: %w", err)
			}
		}
		offsets := map[string][]*sarama.PartitionOffsetMetadata{c.topic: {{Partition: c.part, Offset: next, LeaderEpoch: -1}}}
		if err := c.producer.AddOffsetsToTxn(offsets, c.group); err != nil {
			return fmt.Errorf("add offsets to txn: %w", err)
		}
		return c.producer.CommitTxn()
	}()
	if err != nil {
		if aerr := c.producer.AbortTxn(); aerr != nil && !errors.Is(err, aerr) {
			err = fmt.Errorf("%w (abort: %w)", err, aerr)
		}
		return err
	}
	if c.passed != nil {
		c.passed(next - c.at)
	}
	c.at = next
	c.copied += int64(len(c.msgs))
	c.msgs = c.msgs[:0]
	return nil
}

// CommandsPending tells whether command processors are running (members of CommandGroup) and
// how many commands of the command topic they have not decided (committed) yet: a partition
// migration wants neither, since the new topics start with an empty command topic.
func CommandsPending(cfg Config) (members int, undecided int64, err error) {
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, cfg.Sarama())
	if err != nil {
		return 0, 0, fmt.Errorf("kafka admin: %w", err)
	}
	defer admin.Close()
	groups, err := admin.DescribeConsumerGroups([]string{CommandGroup})
	if err != nil {
		return 0, 0, fmt.Errorf("describe group %s: %w", CommandGroup, err)
	}
	for _, g := range groups {
		members += len(g.Members)
	}
	client, err := NewReadClient(cfg)
	if err != nil {
		return members, 0, err
	}
	defer client.Close()
	ranges, err := LogRanges(client, []string{cfg.Topics.Commands})
	if err != nil {
		return members, 0, err
	}
	done, err := committedOffsets(admin, CommandGroup, ranges)
	if err != nil {
		return members, 0, err
	}
	for i, r := range ranges {
		undecided += r.End - max(done[i], r.Start)
	}
	return members, undecided, nil
}
