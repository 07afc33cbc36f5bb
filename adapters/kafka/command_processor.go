package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/chorus-chat/chorus/adapters/metrics"
	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

// HeaderReplyTo is the command record header naming where the reply goes.
const HeaderReplyTo = "reply-to"

// HeaderCommandsDecided is the header of the last event record of each command batch's
// transaction: "<command topic>/<partition>/<offset>", every command of that partition before
// that offset is decided. A partition's new owner resumes from the highest it reads (rebuild),
// so Kafka's group offset need not go in every transaction (process).
const HeaderCommandsDecided = "commands-decided"

var headerCommandsDecided = []byte(HeaderCommandsDecided)

// commandsDecided is the value of a HeaderCommandsDecided header.
func commandsDecided(topic string, part int32, next int64) []byte {
	b := make([]byte, 0, len(topic)+24)
	b = append(b, topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(part), 10)
	b = append(b, '/')
	return strconv.AppendInt(b, next, 10)
}

// decidedIn is the offset a HeaderCommandsDecided header among headers names for partition part
// of the command topic, 0 without one. A header naming another topic or partition (events
// copied by a partition migration from an earlier layout) does not count.
func decidedIn(headers []*sarama.RecordHeader, topic string, part int32) int64 {
	for _, h := range headers {
		if h == nil || string(h.Key) != HeaderCommandsDecided {
			continue
		}
		v := string(h.Value)
		i := strings.LastIndexByte(v, '/')
		if i < 0 {
			continue
		}
		j := strings.LastIndexByte(v[:i], '/')
		if j < 0 || v[:j] != topic || v[j+1:i] != strconv.Itoa(int(part)) {
			continue
		}
		if next, err := strconv.ParseInt(v[i+1:], 10, 64); err == nil && next > 0 {
			return next
		}
	}
	return 0
}

// CommandGroup is the consumer group of the command processors.
const CommandGroup = "chorus-commands"

// MaxCommandBatch bounds how many commands go in one transaction.
const MaxCommandBatch = 512

// Replier delivers replies to the gateways that wait for them.
type Replier interface {
	Reply(ctx context.Context, replies []commands.AddressedReply) error
}

// CommandProcessor owns partitions of the command topic. For each partition it holds the state of
// every aggregate of that partition, rebuilt from the event topics, decides commands with the
// domain and appends their events and the commands' offsets in one Kafka transaction per batch
// under a transactional id derived from the partition, so that a zombie owner is fenced.
type CommandProcessor struct {
	cfg     Config
	replier Replier
	log     *slog.Logger
	met     *metrics.Metrics // nil: not measured

	mu    sync.Mutex
	owned map[int32]bool
	snaps snapshotStats // snapshots.go
}

// NewCommandProcessor makes a processor; Run starts it.
func NewCommandProcessor(cfg Config, replier Replier, log *slog.Logger) *CommandProcessor {
	return &CommandProcessor{cfg: cfg, replier: replier, log: log, owned: map[int32]bool{}}
}

// UseMetrics has the processor count its commands, batches and transaction failures in m (nil
// turns measuring off). Call it before Run.
func (p *CommandProcessor) UseMetrics(m *metrics.Metrics) *CommandProcessor {
	p.met = m
	return p
}

// Owned lists the partitions this processor owns and serves right now.
func (p *CommandProcessor) Owned() []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]int32, 0, len(p.owned))
	for part := range p.owned {
		out = append(out, part)
	}
	return out
}

// Run joins the command group and processes commands until ctx ends.
func (p *CommandProcessor) Run(ctx context.Context) error {
	sc := p.cfg.Sarama()
	sc.ChannelBufferSize = MaxCommandBatch * 2
	client, err := sarama.NewClient(p.cfg.Brokers, sc)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer client.Close()
	group, err := sarama.NewConsumerGroupFromClient(CommandGroup, client)
	if err != nil {
		return fmt.Errorf("command group: %w", err)
	}
	defer group.Close()
	go func() {
		for err := range group.Errors() {
			p.log.Warn("command group", "err", err)
			p.met.KafkaError("command_processor", "consumer")
		}
	}()
	// Rebuild reads get their own client: on a connection shared with the group's long-poll
	// fetches each of their requests would queue behind one (a broker serves a connection's
	// requests in order).
	readClient, err := sarama.NewClient(p.cfg.Brokers, p.cfg.Sarama())
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer readClient.Close()
	h := &commandHandler{p: p, client: readClient, run: ctx}
	for ctx.Err() == nil {
		if err := group.Consume(ctx, []string{p.cfg.Topics.Commands}, h); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) || ctx.Err() != nil {
				break
			}
			p.log.Warn("command group session ended", "err", err)
			if errors.Is(err, sarama.ErrUnstableOffsetCommit) {
				p.settleOrphans(ctx, readClient)
			}
			sleep(ctx, time.Second)
		}
	}
	return nil
}

// A partition's committed offset must be unstable in orphanSamples reads orphanEvery apart
// before settleOrphans takes its open transaction for an orphan: a live owner's batch holds its
// offsets pending for a millisecond or so, between its offsets and its commit, so even a busy
// partition's next batches are unlikely to be caught in every read.
const (
	orphanSamples = 5
	orphanEvery   = 500 * time.Millisecond
)

// settleOrphans aborts the open transactions of partitions whose owner died (or froze) between
// sending a batch's offsets and committing it. Such a transaction keeps the partition's committed
// offset unstable, so a new owner's group session cannot start (Kafka answers its offset fetch
// UNSTABLE_OFFSET_COMMIT), and so it cannot open the partition's transactional producer, which
// is what fences the old owner and aborts its transaction (takeOver): without this, the
// partition waited for the transaction timeout (30 s by default; measured in the fault suite).
// A partition unstable in every one of orphanSamples reads gets its producer opened here, then
// closed; the session then starts, and its new owner opens the producer again as usual.
func (p *CommandProcessor) settleOrphans(ctx context.Context, client sarama.Client) {
	orphans := p.unstablePartitions(client)
	for i := 1; i < orphanSamples && len(orphans) > 0; i++ {
		sleep(ctx, orphanEvery)
		now := p.unstablePartitions(client)
		orphans = slices.DeleteFunc(orphans, func(part int32) bool { return !slices.Contains(now, part) })
	}
	for _, part := range orphans {
		if ctx.Err() != nil {
			return
		}
		if err := p.fence(part); err != nil {
			p.log.Warn("cannot fence the open transaction of a partition's previous owner", "partition", part, "err", err)
			continue
		}
		p.log.Warn("aborted the open transaction a partition's previous owner left, which kept the group from starting", "partition", part)
	}
}

// unstablePartitions are the command topic's partitions whose committed offset in the command
// group an open transaction holds pending.
func (p *CommandProcessor) unstablePartitions(client sarama.Client) []int32 {
	coordinator, err := client.Coordinator(CommandGroup)
	if err != nil {
		return nil
	}
	req := &sarama.OffsetFetchRequest{Version: 7, ConsumerGroup: CommandGroup, RequireStable: true}
	for part := range p.cfg.Partitions {
		req.AddPartition(p.cfg.Topics.Commands, part)
	}
	resp, err := coordinator.FetchOffset(req)
	if err != nil {
		return nil
	}
	var out []int32
	for part, block := range resp.Blocks[p.cfg.Topics.Commands] {
		if block.Err == sarama.ErrUnstableOffsetCommit {
			out = append(out, part)
		}
	}
	slices.Sort(out)
	return out
}

type commandHandler struct {
	p      *CommandProcessor
	client sarama.Client
	run    context.Context // Run's: it ends when the processor stops
}

func (h *commandHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *commandHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim serves one partition for the length of a group session.
func (h *commandHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := sess.Context()
	part := claim.Partition()
	log := h.p.log.With("partition", part)
	defer func() {
		h.p.mu.Lock()
		delete(h.p.owned, part)
		h.p.mu.Unlock()
	}()
	var w *partitionWorker
	defer func() {
		if w == nil {
			return
		}
		// A processor that stops leaves the group's offset exact, as `chorusctl topics
		// repartition` wants it after the processors stopped (a newer owner that fenced this one
		// makes it fail, harmlessly). Not at the end of every session: one that ended because
		// the broker went away would wait for it, and a partition's next owner does not need it.
		if h.run.Err() != nil && w.trails() {
			if err := w.commitOffsets(); err != nil {
				log.Debug("commit the group's offset at the end of the session", "err", err)
			}
		}
		w.close()
	}()
	// failed: a transaction did not commit, so nothing of it is visible. Discard the state; the
	// loop takes the partition over again (rebuild) and retries what is pending.
	failed := func(err error) {
		w.close()
		w = nil
		if ctx.Err() != nil {
			return
		}
		h.p.met.TransactionFailed(errors.Is(err, sarama.ErrProducerFenced))
		if errors.Is(err, sarama.ErrProducerFenced) {
			log.Warn("fenced by a newer owner of the partition", "err", err)
			sleep(ctx, time.Second) // if we lost the partition, the session ends meanwhile
		} else {
			log.Error("command batch failed; rebuilding the partition", "err", err)
			sleep(ctx, 100*time.Millisecond)
		}
	}
	// quiet runs while waiting for commands when the group's offset trails what is decided.
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	defer quiet.Stop()
	var pending []*sarama.ConsumerMessage
	for {
		if w == nil {
			var err error
			if w, err = h.p.takeOver(ctx, h.client, part, true); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				log.Error("take over partition", "err", err)
				sleep(ctx, time.Second)
				continue
			}
			// The group's offset trails the events' own record of what is decided by up to
			// CommandOffsetsEvery: the session hands those commands over again, and they are
			// passed over as they come (decided). A batch that is retried here (pending) stays:
			// if its commit took effect though it failed, its commands are answered from the
			// aggregates' memory, with the replies their gateways still wait for.
			w.committed = claim.InitialOffset()
			h.p.mu.Lock()
			h.p.owned[part] = true
			h.p.mu.Unlock()
		}
		if len(pending) == 0 {
			if w.trails() {
				quiet.Reset(h.p.cfg.commandOffsetsEvery())
			}
			select {
			case m, ok := <-claim.Messages():
				quiet.Stop()
				if !ok {
					return nil
				}
				if !w.decided(m) {
					pending = append(pending, m)
				}
			case <-quiet.C:
				if err := w.commitOffsets(); err != nil {
					failed(err)
				}
				continue
			case <-ctx.Done():
				return nil
			}
		drain: // take what is ready: under load the channel fills while a transaction commits
			for len(pending) < MaxCommandBatch {
				select {
				case m, ok := <-claim.Messages():
					if !ok {
						break drain
					}
					if !w.decided(m) {
						pending = append(pending, m)
					}
				default:
					break drain
				}
			}
			if len(pending) == 0 {
				continue
			}
		}
		if err := w.process(ctx, pending); err != nil {
			failed(err)
			continue
		}
		pending = pending[:0]
	}
}

// partitionWorker is the owner of one partition: its fencing producer and its state.
type partitionWorker struct {
	p        *CommandProcessor
	part     int32
	producer sarama.SyncProducer
	state    *commands.PartitionState
	log      *slog.Logger
	batches  int
	snap     *snapshotter // snapshots.go
	commands int
	// committed is the partition's offset in group CommandGroup as this owner last knew it,
	// committed when its transaction was (offsetsAt).
	committed int64
	offsetsAt time.Time
}

// decided tells whether m's command was decided already (by an earlier owner: the group's
// offset trails it).
func (w *partitionWorker) decided(m *sarama.ConsumerMessage) bool {
	return m.Offset < w.snap.decided
}

// trails tells whether the group's offset of the partition is behind what is decided.
func (w *partitionWorker) trails() bool {
	return w.snap.decided > 0 && w.snap.decided > w.committed
}

// transactionalConfig is the configuration of the partition's transactional producer: its
// transactional id is the partition's, so that opening it fences any older owner.
func (p *CommandProcessor) transactionalConfig(part int32) *sarama.Config {
	sc := p.cfg.Sarama()
	sc.Producer.Idempotent = true
	sc.Producer.Transaction.ID = "chorus-commands-" + strconv.Itoa(int(part))
	sc.Producer.Transaction.Timeout = p.cfg.TxnTimeout()
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Producer.Retry.Max = 5
	sc.Producer.Retry.Backoff = 50 * time.Millisecond
	sc.Net.MaxOpenRequests = 1
	return sc
}

// fence opens and closes partition part's transactional producer: its initialisation fences the
// partition's owner and aborts its open transaction, as a takeover's does.
func (p *CommandProcessor) fence(part int32) error {
	producer, err := sarama.NewSyncProducer(p.cfg.Brokers, p.transactionalConfig(part))
	if err != nil {
		return err
	}
	_ = producer.Close()
	return nil
}

// takeOver opens the partition's transactional producer (which fences any older owner and aborts
// its open transaction) and then rebuilds the partition's state from the event topics: from the
// newest partition snapshot on if useSnapshot and there is a usable one (snapshots.go).
func (p *CommandProcessor) takeOver(ctx context.Context, client sarama.Client, part int32, useSnapshot bool) (*partitionWorker, error) {
	start := time.Now()
	producer, err := sarama.NewSyncProducer(p.cfg.Brokers, p.transactionalConfig(part))
	if err != nil {
		return nil, fmt.Errorf("transactional producer for partition %d: %w", part, err)
	}
	state, snap, err := p.rebuild(ctx, client, part, useSnapshot)
	if err != nil {
		_ = producer.Close()
		return nil, err
	}
	if snap.decided > 0 {
		// A position past the partition's end is another command topic's (made anew under the
		// same name): passing over its commands up to there would leave them undecided.
		end, err := client.GetOffset(p.cfg.Topics.Commands, part, sarama.OffsetNewest)
		if err != nil {
			_ = producer.Close()
			return nil, fmt.Errorf("end of command partition %d: %w", part, err)
		}
		if snap.decided > end {
			p.log.Warn("the events say commands were decided past the command partition's end, as if the command topic was made anew: deciding from the group's offset",
				"partition", part, "decided", snap.decided, "end", end)
			snap.decided = 0
		}
	}
	r := snap.recovery
	p.log.Info("took over partition", "partition", part, "events", r.TailEvents, "from_snapshot", r.FromSnapshot,
		"snapshot_events", r.SnapshotEvents, "aggregates", r.Aggregates, "took", time.Since(start).Round(time.Millisecond).String())
	return &partitionWorker{p: p, part: part, producer: producer, state: state, snap: snap, log: p.log.With("partition", part)}, nil
}

func (w *partitionWorker) close() {
	w.snap.close()
	if err := w.producer.Close(); err != nil {
		w.log.Debug("close producer", "err", err)
	}
}

// topicOf is the topic of the stream of the event's kind (domain.Kinds).
func (w *partitionWorker) topicOf(ev domain.Event) (string, error) {
	kind, err := domain.KindOf(ev.AggregateType)
	if err != nil {
		return "", err
	}
	if t := w.p.cfg.Topics.OfStream(kind.Stream); t != "" {
		return t, nil
	}
	return "", fmt.Errorf("aggregate type %q: no topic for its stream %q", kind.Name, kind.Stream)
}

// process decides a batch of commands and commits their events and offsets in one transaction;
// replies go out only after the commit.
func (w *partitionWorker) process(ctx context.Context, batch []*sarama.ConsumerMessage) error {
	now := time.Now().UTC().Truncate(time.Microsecond) // Postgres keeps microseconds: every view shows the same time
	start := time.Now()
	type decided struct {
		replyTo string
		reply   *commands.Reply
		msgs    []*sarama.ProducerMessage
		cmd     domain.Command // the zero Command for an undecodable record
	}
	decisions := make([]decided, 0, len(batch))
	var out []*sarama.ProducerMessage
	for _, m := range batch {
		replyTo := header(m, HeaderReplyTo)
		var cmd domain.Command
		// Command's own decoder checks the whole record as json.Unmarshal would; called
		// through json.Unmarshal the record was scanned twice more (half the decode's time).
		if err := cmd.UnmarshalJSON(m.Value); err != nil {
			w.log.Warn("undecodable command skipped", "offset", m.Offset, "err", err)
			decisions = append(decisions, decided{replyTo: replyTo, reply: &commands.Reply{Code: domain.CodeValidationFailed, Message: "undecodable command: " + err.Error()}})
			continue
		}
		d := w.state.Decide(cmd, now)
		dd := decided{replyTo: replyTo, reply: d.Reply, cmd: cmd}
		for _, ev := range d.Events {
			b, err := ev.AppendJSON(make([]byte, 0, 768)) // a message's event is ~600 bytes
			if err != nil {
				return fmt.Errorf("encode event: %w", err)
			}
			topic, err := w.topicOf(ev)
			if err != nil {
				return fmt.Errorf("event %s: %w", ev.ID, err)
			}
			pm := &sarama.ProducerMessage{
				Topic: topic, Partition: w.part, Key: sarama.StringEncoder(ev.AggregateID.String()),
				Value: sarama.ByteEncoder(b), Timestamp: ev.OccurredAt,
			}
			dd.msgs = append(dd.msgs, pm)
			out = append(out, pm)
		}
		decisions = append(decisions, dd)
	}
	next := batch[len(batch)-1].Offset + 1
	// Where the partition's commands stand goes with the events: the transaction's last event
	// record carries it (HeaderCommandsDecided), and a new owner resumes from there (rebuild).
	// Kafka's group offset costs the transaction two requests more (AddOffsetsToTxn,
	// TxnOffsetCommit, one after the other before the commit): it goes in at most every
	// CommandOffsetsEvery, and whenever there is no event to carry the position.
	if len(out) > 0 {
		lm := out[len(out)-1]
		lm.Headers = append(lm.Headers, sarama.RecordHeader{Key: headerCommandsDecided, Value: commandsDecided(w.p.cfg.Topics.Commands, w.part, next)})
	}
	withOffsets := len(out) == 0 || time.Since(w.offsetsAt) >= w.p.cfg.commandOffsetsEvery()
	decidedAt := time.Now()
	w.p.met.BatchStep(metrics.StepDecide, decidedAt.Sub(start))
	var appended time.Time
	if err := w.producer.BeginTxn(); err != nil {
		return fmt.Errorf("begin txn: %w", err)
	}
	err := func() error {
		if len(out) > 0 {
			if err := w.producer.SendMessages(out); err != nil {
				return fmt.Errorf("append events: %w", err)
			}
		}
		appended = time.Now()
		if withOffsets {
			if err := w.addOffsets(next); err != nil {
				return err
			}
		}
		return w.producer.CommitTxn()
	}()
	if err != nil {
		return w.abort(err)
	}
	committed := time.Now()
	w.snap.decided = next
	if withOffsets {
		w.committed, w.offsetsAt = next, committed
	}
	w.batches++
	w.snap.appended(out)
	w.commands += len(batch)
	w.p.met.BatchCommitted(len(batch), committed.Sub(start))
	w.p.met.BatchStep(metrics.StepAppend, appended.Sub(decidedAt))
	w.p.met.BatchStep(metrics.StepCommit, committed.Sub(appended))
	replies := make([]commands.AddressedReply, 0, len(decisions))
	for _, d := range decisions {
		if n := len(d.msgs); n > 0 {
			lm := d.msgs[n-1]
			d.reply.Position = domain.Position{Topic: lm.Topic, Partition: lm.Partition, Offset: lm.Offset}.String()
		}
		if d.replyTo != "" {
			replies = append(replies, commands.AddressedReply{To: d.replyTo, Reply: *d.reply})
		}
	}
	if len(replies) > 0 {
		if err := w.p.replier.Reply(ctx, replies); err != nil {
			// The commands are committed; a client that misses its reply times out and retries
			// with the same id, which is answered from the recent-command memory.
			w.log.Warn("send replies", "err", err, "count", len(replies))
		}
	}
	replied := time.Now()
	w.p.met.BatchStep(metrics.StepReply, replied.Sub(committed))
	for _, d := range decisions {
		w.p.met.Stage(metrics.StageFetched, d.cmd.IssuedAt, start)
		w.p.met.Stage(metrics.StageCommitted, d.cmd.IssuedAt, committed)
		w.p.met.Stage(metrics.StageReplied, d.cmd.IssuedAt, replied)
		typ := d.cmd.Type
		if typ == "" {
			typ = "undecodable"
		}
		w.p.met.CommandDecided(typ, d.reply.Accepted, d.reply.Code)
		w.p.met.CommandReplied(d.cmd.IssuedAt, replied)
		// Debug: one line per command is too many at load, but with CHORUS_LOG_LEVEL=debug the
		// gateway's and the processor's lines of one command join on command_id/correlation_id.
		w.log.Debug("command decided", "command_id", d.cmd.ID, "correlation_id", d.cmd.CorrelationID,
			"type", d.cmd.Type, "accepted", d.reply.Accepted, "code", d.reply.Code, "position", d.reply.Position)
	}
	// Between batches, once the replies have their positions: a snapshot copies them.
	w.maybeSnapshot(ctx)
	return nil
}

// addOffsets adds the partition's position, next, in group CommandGroup to the open transaction.
func (w *partitionWorker) addOffsets(next int64) error {
	offsets := map[string][]*sarama.PartitionOffsetMetadata{
		w.p.cfg.Topics.Commands: {{Partition: w.part, Offset: next, LeaderEpoch: -1}},
	}
	if err := w.producer.AddOffsetsToTxn(offsets, CommandGroup); err != nil {
		return fmt.Errorf("add offsets to txn: %w", err)
	}
	return nil
}

// abort aborts the open transaction after err, and tells whether a newer owner fenced it.
func (w *partitionWorker) abort(err error) error {
	// A fenced producer's send or commit fails with "invalid state"; only the abort names the
	// fencing (error 90, sarama.ErrProducerFenced; measured against kfake), so that is where we learn
	// that a newer owner exists.
	if aerr := w.producer.AbortTxn(); aerr != nil {
		if errors.Is(aerr, sarama.ErrProducerFenced) && !errors.Is(err, sarama.ErrProducerFenced) {
			return fmt.Errorf("%w (%w)", sarama.ErrProducerFenced, err)
		}
		w.log.Debug("abort txn", "err", aerr)
	}
	return err
}

// commitOffsets commits the partition's decided position to group CommandGroup in a
// transaction of its own: commands stopped coming while the group's offset trailed it. So a
// quiet partition's group offset is exact, as the partition migration's check of undecided
// commands and the group's lag want.
func (w *partitionWorker) commitOffsets() error {
	next := w.snap.decided
	if err := w.producer.BeginTxn(); err != nil {
		return fmt.Errorf("begin txn: %w", err)
	}
	if err := w.addOffsets(next); err != nil {
		return w.abort(err)
	}
	if err := w.producer.CommitTxn(); err != nil {
		return w.abort(err)
	}
	w.committed, w.offsetsAt = next, time.Now()
	return nil
}

func header(m *sarama.ConsumerMessage, key string) string {
	for _, h := range m.Headers {
		if string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
