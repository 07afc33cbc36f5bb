package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

// Partition snapshots make taking over a partition cost its recent history instead of all of
// it. A snapshot of partition p is the PartitionState (every aggregate of p and its recent
// replies) as it stood after the events below Offsets of each event topic's partition p. It lives
// in partition p of the compacted snapshot topic as
//
//	key "<p>/<generation>/<i>"  chunk i of the encoded state (commands.PartitionSnapshot.Encode),
//	                            at most snapshotChunkBytes, so that no record exceeds the topic's
//	                            default max.message.bytes
//	key "<p>"                   the manifest (snapshotManifest, JSON), written after every chunk
//
// A reader trusts only a manifest whose chunks are all there, so a writer that dies half way
// leaves the previous snapshot in use; after a manifest the writer tombstones the previous
// generation's chunks, which compaction then drops. On takeover the processor restores the
// newest snapshot and reads the event topics from its offsets on; a snapshot it cannot read
// (unknown format, missing chunk, corrupt bytes) is ignored with a warning: the partition is
// rebuilt from the whole log, which is always correct, only slower.
//
// A snapshot is taken in the partition's goroutine between two batches, at most every
// SnapshotEvery events: copying the state is the only part the partition waits for; encoding and
// writing run in a goroutine on the copy, one at a time.

// DefaultSnapshotEvery is Config.SnapshotEvery's default: events appended to a partition between
// two of its snapshots.
const DefaultSnapshotEvery = 50_000

const (
	snapshotChunkBytes   = 900 << 10
	snapshotSegmentBytes = 512 << 10 // the unit of parallel decoding; most fit one chunk
	snapshotSendGroup    = 8         // chunks per SendMessages
)

// snapshotTopicConfig is how EnsureTopics creates the snapshot topic: compacted, so that it keeps
// the newest manifest and chunks of every partition.
func snapshotTopicConfig() map[string]*string {
	compact := "compact"
	return map[string]*string{"cleanup.policy": &compact}
}

// snapshotEvery is the snapshot interval in events, 0 for none.
func (c Config) snapshotEvery() int {
	switch {
	case c.Topics.Snapshots == "" || c.SnapshotEvery < 0:
		return 0
	case c.SnapshotEvery == 0:
		return DefaultSnapshotEvery
	}
	return c.SnapshotEvery
}

// snapshotManifest describes one complete snapshot of a partition.
type snapshotManifest struct {
	// Format is commands.SnapshotFormat of the chunks; a reader ignores a format it does not know.
	Format     int    `json:"format"`
	Generation string `json:"generation"`
	Partition  int32  `json:"partition"`
	// Offsets: per event topic, the offset of partition Partition to read on from.
	Offsets map[string]int64 `json:"offsets"`
	// Events folded into the state (informational).
	Events int64 `json:"events"`
	// CommandsDecided: every command of partition Partition of the command topic before this
	// offset is decided in the state (HeaderCommandsDecided; 0 in snapshots of builds before it).
	CommandsDecided int64 `json:"commands_decided,omitempty"`
	// FirstOffset is the offset of chunk 0 in the snapshot topic; Chunks counts them and
	// Segments says how many consecutive chunks make each encoded segment.
	FirstOffset int64     `json:"first_offset"`
	Chunks      int       `json:"chunks"`
	Segments    []int     `json:"segments"`
	Bytes       int64     `json:"bytes"`
	CreatedAt   time.Time `json:"created_at"`
}

// check refuses a manifest (read at offset manOff) that this build cannot read or that does
// not describe chunks lying between its first offset and itself: restoring it would index out
// of range (a negative segment size) or allocate for chunks that cannot be there (a huge chunk
// count).
func (m *snapshotManifest) check(manOff int64) error {
	if m.Format != commands.SnapshotFormat {
		return fmt.Errorf("%w: manifest of format %d, this build reads %d", commands.ErrSnapshotFormat, m.Format, commands.SnapshotFormat)
	}
	total := 0
	for _, n := range m.Segments {
		if n <= 0 || n > m.Chunks-total { // and so total never overflows
			return fmt.Errorf("manifest at offset %d is inconsistent: a segment of %d chunks", manOff, n)
		}
		total += n
	}
	if total != m.Chunks || m.Chunks < 0 || m.FirstOffset < 0 || m.FirstOffset > manOff || int64(m.Chunks) > manOff-m.FirstOffset {
		return fmt.Errorf("manifest at offset %d is inconsistent", manOff)
	}
	return nil
}

// layout maps each chunk to its segment and each segment to its first chunk (of a manifest
// that passed check).
func (m *snapshotManifest) layout() (segOf, segStart []int) {
	segOf = make([]int, m.Chunks)
	segStart = make([]int, len(m.Segments))
	c := 0
	for si, n := range m.Segments {
		segStart[si] = c
		for k := 0; k < n; k++ {
			segOf[c+k] = si
		}
		c += n
	}
	return segOf, segStart
}

func chunkKey(part int32, gen string, i int) string {
	return strconv.Itoa(int(part)) + "/" + gen + "/" + strconv.Itoa(i)
}

// RecoveryStats tells how one takeover rebuilt a partition's state.
type RecoveryStats struct {
	Partition int32
	// FromSnapshot: a snapshot was restored; SnapshotEvents events were folded into it and it
	// took SnapshotTook to read and decode (SnapshotBytes encoded).
	FromSnapshot   bool
	SnapshotEvents int64
	SnapshotBytes  int64
	SnapshotTook   time.Duration
	// TailEvents are the events read from the event topics: those after the snapshot, or all.
	TailEvents int
	Aggregates int
	Took       time.Duration
}

// snapshotStats is what a processor remembers of its takeovers and snapshots.
type snapshotStats struct {
	mu         sync.Mutex
	recoveries []RecoveryStats
	written    int
	lastCopy   time.Duration
}

// maxRecoveries bounds the takeovers a processor remembers.
const maxRecoveries = 256

// Recoveries lists how the latest takeovers (up to 256) of this processor rebuilt their
// partitions, oldest first.
func (p *CommandProcessor) Recoveries() []RecoveryStats {
	p.snaps.mu.Lock()
	defer p.snaps.mu.Unlock()
	return append([]RecoveryStats(nil), p.snaps.recoveries...)
}

// SnapshotsWritten is how many partition snapshots this processor has written completely.
func (p *CommandProcessor) SnapshotsWritten() int {
	p.snaps.mu.Lock()
	defer p.snaps.mu.Unlock()
	return p.snaps.written
}

// LastSnapshotCopy is how long the partition waited for the copy of its state behind the latest
// snapshot this processor took: the only part of a snapshot that holds commands up.
func (p *CommandProcessor) LastSnapshotCopy() time.Duration {
	p.snaps.mu.Lock()
	defer p.snaps.mu.Unlock()
	return p.snaps.lastCopy
}

// Recover takes partition part over as the processor does when the group assigns it (opening
// its fencing producer, so it fences the current owner), rebuilds its state, from the newest
// snapshot if useSnapshot, and lets it go again. It is for benchmarks and tools.
func (p *CommandProcessor) Recover(ctx context.Context, part int32, useSnapshot bool) (RecoveryStats, error) {
	client, err := sarama.NewClient(p.cfg.Brokers, p.cfg.Sarama())
	if err != nil {
		return RecoveryStats{}, fmt.Errorf("kafka client: %w", err)
	}
	defer client.Close()
	w, err := p.takeOver(ctx, client, part, useSnapshot)
	if err != nil {
		return RecoveryStats{}, err
	}
	defer w.close()
	return w.snap.recovery, nil
}

// SnapshotPartition takes partition part over, writes a snapshot of its state and lets it go.
func (p *CommandProcessor) SnapshotPartition(ctx context.Context, part int32) (RecoveryStats, error) {
	if p.cfg.Topics.Snapshots == "" {
		return RecoveryStats{}, errors.New("no snapshot topic configured")
	}
	client, err := sarama.NewClient(p.cfg.Brokers, p.cfg.Sarama())
	if err != nil {
		return RecoveryStats{}, fmt.Errorf("kafka client: %w", err)
	}
	defer client.Close()
	w, err := p.takeOver(ctx, client, part, true)
	if err != nil {
		return RecoveryStats{}, err
	}
	defer w.close()
	w.snapshot(ctx)
	w.snap.wait()
	if w.snap.lastErr != nil {
		return w.snap.recovery, w.snap.lastErr
	}
	return w.snap.recovery, nil
}

// rebuild builds partition part's state: the newest usable snapshot (if useSnapshot) and then
// every committed event after it. It returns the state and the snapshotter that goes on from it.
func (p *CommandProcessor) rebuild(ctx context.Context, client sarama.Client, part int32, useSnapshot bool) (*commands.PartitionState, *snapshotter, error) {
	start := time.Now()
	sn := &snapshotter{p: p, part: part, next: map[string]int64{}, recovery: RecoveryStats{Partition: part}}
	var state *commands.PartitionState
	if useSnapshot && p.cfg.Topics.Snapshots != "" {
		s, m, err := readSnapshot(ctx, client, p.cfg.Topics.Snapshots, part)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, nil, err
		case err != nil:
			p.log.Warn("partition snapshot unusable: rebuilding from the whole log", "partition", part, "err", err)
		case s != nil:
			state, sn.last = s, m
			for t, o := range m.Offsets {
				sn.next[t] = o
			}
			sn.events = m.Events
			sn.decided = m.CommandsDecided
			sn.recovery.FromSnapshot, sn.recovery.SnapshotEvents, sn.recovery.SnapshotBytes = true, m.Events, m.Bytes
			sn.recovery.SnapshotTook = time.Since(start)
		}
	}
	if state == nil {
		state = commands.NewPartitionState()
		clear(sn.next)
		sn.decided = 0
	}
	for _, topic := range p.cfg.Topics.EventTopics() {
		end, err := ReadCommitted(ctx, client, topic, part, sn.next[topic], func(r Record) error {
			if len(r.Headers) > 0 {
				sn.decided = max(sn.decided, decidedIn(r.Headers, p.cfg.Topics.Commands, part))
			}
			ev, err := DecodeEvent(r.Value)
			if err != nil {
				return fmt.Errorf("event at %s/%d/%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			if err := state.Replay(ev, domain.Position{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}); err != nil {
				return fmt.Errorf("event at %s/%d/%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			sn.tail++
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("rebuild partition %d from %s: %w", part, topic, err)
		}
		sn.next[topic] = end
	}
	sn.recovery.TailEvents = sn.tail
	sn.recovery.Aggregates = state.Aggregates()
	sn.recovery.Took = time.Since(start)
	sn.events += int64(sn.tail)
	// A partition whose history was read without a snapshot (or with an old one) is due for one.
	sn.since = int64(sn.tail)
	sn.tail = 0
	p.snaps.mu.Lock()
	p.snaps.recoveries = append(p.snaps.recoveries, sn.recovery)
	if n := len(p.snaps.recoveries); n > maxRecoveries { // a long-lived process takes over often
		p.snaps.recoveries = append(p.snaps.recoveries[:0], p.snaps.recoveries[n-maxRecoveries:]...)
	}
	p.snaps.mu.Unlock()
	return state, sn, nil
}

// snapshotter is a partition worker's snapshot bookkeeping. Only the partition's goroutine
// calls its methods; the write goroutine touches only what it is handed and done.
type snapshotter struct {
	p    *CommandProcessor
	part int32
	// next: per event topic, the offset after the last committed event the state holds.
	next map[string]int64
	// decided: every command of the partition before this offset is decided in the state (0: the
	// group's offset says where to start).
	decided int64
	events  int64 // events folded into the state
	since   int64 // events since the last snapshot was taken
	tail    int   // events replayed during rebuild
	// last is the newest snapshot known of the partition, whose chunks the next one tombstones.
	last     *snapshotManifest
	recovery RecoveryStats

	running  chan struct{} // open while a write runs
	cancel   context.CancelFunc
	result   *snapshotManifest
	lastErr  error
	producer sarama.SyncProducer
}

// appended records the events a batch committed (their offsets are set once the send succeeded).
func (s *snapshotter) appended(out []*sarama.ProducerMessage) {
	for _, m := range out {
		if m.Offset+1 > s.next[m.Topic] {
			s.next[m.Topic] = m.Offset + 1
		}
	}
	s.events += int64(len(out))
	s.since += int64(len(out))
}

// collect takes in the outcome of a finished write, if any; it does not wait.
func (s *snapshotter) collect() bool {
	if s.running == nil {
		return true
	}
	select {
	case <-s.running:
	default:
		return false
	}
	s.running, s.cancel = nil, nil
	if s.result != nil {
		s.last, s.result = s.result, nil
	}
	return true
}

// wait waits for a running write to end.
func (s *snapshotter) wait() {
	if s.running != nil {
		<-s.running
		s.collect()
	}
}

// close stops a running write and closes the producer.
func (s *snapshotter) close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wait()
	if s.producer != nil {
		_ = s.producer.Close()
		s.producer = nil
	}
}

// maybeSnapshot starts a snapshot if SnapshotEvery events went by since the last and no write
// runs. Called between batches.
func (w *partitionWorker) maybeSnapshot(ctx context.Context) {
	every := w.p.cfg.snapshotEvery()
	if every <= 0 || w.snap.since < int64(every) || !w.snap.collect() {
		return
	}
	w.snapshot(ctx)
}

// snapshot copies the state and writes the copy in a goroutine.
func (w *partitionWorker) snapshot(ctx context.Context) {
	s := w.snap
	if !s.collect() {
		return
	}
	start := time.Now()
	ps, err := w.state.Snapshot()
	if err != nil {
		w.log.Warn("partition snapshot", "err", err)
		return
	}
	ps.Events = s.events
	decided := s.decided
	offsets := make(map[string]int64, len(s.next))
	for t, o := range s.next {
		offsets[t] = o
	}
	copied := time.Since(start)
	w.p.snaps.mu.Lock()
	w.p.snaps.lastCopy = copied
	w.p.snaps.mu.Unlock()
	s.since = 0
	prev := s.last
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	s.running, s.cancel, s.lastErr = done, cancel, nil
	go func() {
		defer close(done)
		defer cancel()
		m, err := s.write(ctx, ps, offsets, decided, prev)
		if err != nil {
			s.lastErr = err
			if ctx.Err() == nil {
				w.log.Warn("write partition snapshot", "err", err)
			}
			return
		}
		s.result = m
		w.p.snaps.mu.Lock()
		w.p.snaps.written++
		w.p.snaps.mu.Unlock()
		w.log.Info("wrote partition snapshot", "events", m.Events, "aggregates", len(ps.Entries), "bytes", m.Bytes,
			"chunks", m.Chunks, "copy", copied.Round(time.Microsecond).String(), "took", time.Since(start).Round(time.Millisecond).String())
	}()
}

// write encodes the snapshot and appends its chunks, its manifest and the previous generation's
// tombstones.
func (s *snapshotter) write(ctx context.Context, ps *commands.PartitionSnapshot, offsets map[string]int64, decided int64, prev *snapshotManifest) (*snapshotManifest, error) {
	topic := s.p.cfg.Topics.Snapshots
	segs, err := ps.Encode(snapshotSegmentBytes)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if s.producer == nil {
		sc := s.p.cfg.Sarama()
		sc.Producer.Partitioner = sarama.NewManualPartitioner
		sc.Producer.Idempotent = true
		sc.Producer.Retry.Max = 5
		sc.Net.MaxOpenRequests = 1
		if s.producer, err = sarama.NewSyncProducer(s.p.cfg.Brokers, sc); err != nil {
			return nil, fmt.Errorf("snapshot producer: %w", err)
		}
	}
	m := &snapshotManifest{
		Format: commands.SnapshotFormat, Generation: strconv.FormatInt(time.Now().UnixNano(), 36), Partition: s.part,
		Offsets: offsets, Events: ps.Events, CommandsDecided: decided, CreatedAt: time.Now().UTC(),
	}
	var msgs []*sarama.ProducerMessage
	for _, seg := range segs {
		n := 0
		for off := 0; off < len(seg); off += snapshotChunkBytes {
			v := seg[off:min(off+snapshotChunkBytes, len(seg))]
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: s.part,
				Key: sarama.StringEncoder(chunkKey(s.part, m.Generation, len(msgs))), Value: sarama.ByteEncoder(v)})
			n++
		}
		m.Segments = append(m.Segments, n)
		m.Bytes += int64(len(seg))
	}
	m.Chunks = len(msgs)
	for i := 0; i < len(msgs); i += snapshotSendGroup {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.producer.SendMessages(msgs[i:min(i+snapshotSendGroup, len(msgs))]); err != nil {
			return nil, fmt.Errorf("append chunks: %w", err)
		}
	}
	if len(msgs) > 0 {
		m.FirstOffset = msgs[0].Offset
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	if _, _, err := s.producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: s.part,
		Key: sarama.StringEncoder(strconv.Itoa(int(s.part))), Value: sarama.ByteEncoder(b)}); err != nil {
		return nil, fmt.Errorf("append manifest: %w", err)
	}
	if prev != nil && prev.Generation != m.Generation {
		tombs := make([]*sarama.ProducerMessage, 0, prev.Chunks)
		for i := 0; i < prev.Chunks; i++ {
			tombs = append(tombs, &sarama.ProducerMessage{Topic: topic, Partition: s.part, Key: sarama.StringEncoder(chunkKey(s.part, prev.Generation, i))})
		}
		if len(tombs) > 0 {
			if err := s.producer.SendMessages(tombs); err != nil {
				// The new snapshot is complete; the old chunks only take room until the next one.
				s.p.log.Debug("tombstone old snapshot chunks", "partition", s.part, "err", err)
			}
		}
	}
	return m, nil
}

// readSnapshot restores the newest complete snapshot of partition part: nil without one, an
// error for one it cannot use.
func readSnapshot(ctx context.Context, client sarama.Client, topic string, part int32) (*commands.PartitionState, *snapshotManifest, error) {
	broker, err := client.Leader(topic, part)
	if err != nil {
		return nil, nil, fmt.Errorf("leader of %s/%d: %w", topic, part, err)
	}
	end, err := lastStableOffset(broker, topic, part)
	if err != nil {
		return nil, nil, err
	}
	// The manifest is normally the last record but for the tombstones after it: look back in
	// growing windows rather than read the whole partition.
	manKey := strconv.Itoa(int(part))
	var m *snapshotManifest
	manOff := int64(-1)
	for hi, window := end, int64(16); hi > 0 && m == nil; window *= 4 {
		lo := max(0, hi-window)
		var decodeErr error
		err := readRange(ctx, broker, topic, part, lo, hi, func(r Record) error {
			if string(r.Key) != manKey || r.Value == nil {
				return nil
			}
			var mm snapshotManifest
			if err := json.Unmarshal(r.Value, &mm); err != nil {
				decodeErr = fmt.Errorf("manifest at offset %d: %w", r.Offset, err)
				return nil
			}
			m, manOff, decodeErr = &mm, r.Offset, nil
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		if m == nil && decodeErr != nil {
			return nil, nil, decodeErr
		}
		hi = lo
	}
	if m == nil {
		return nil, nil, nil
	}
	if err := m.check(manOff); err != nil {
		return nil, nil, err
	}
	// Each segment is decoded as soon as its last chunk has arrived, while the rest is read.
	chunks := make([][]byte, m.Chunks)
	segOf, segStart := m.layout()
	missing := append([]int(nil), m.Segments...)
	dec := commands.NewSnapshotDecoder()
	added := 0
	prefix := manKey + "/" + m.Generation + "/"
	err = readRange(ctx, broker, topic, part, m.FirstOffset, manOff, func(r Record) error {
		// Records of other generations, and chunks seen already (a producer retry), are skipped.
		i, ok := chunkIndex(string(r.Key), prefix, len(chunks))
		if !ok || chunks[i] != nil {
			return nil
		}
		chunks[i] = r.Value
		si := segOf[i]
		if missing[si]--; missing[si] > 0 {
			return nil
		}
		// Segments are queued in order: a segment that completes early waits for those before.
		for added < len(m.Segments) && missing[added] == 0 {
			dec.Add(joinChunks(chunks[segStart[added] : segStart[added]+m.Segments[added]]))
			added++
		}
		return nil
	})
	if err == nil && added < len(m.Segments) {
		err = fmt.Errorf("snapshot %s of partition %d misses chunks of segment %d", m.Generation, part, added)
	}
	state, derr := dec.Finish()
	if err != nil {
		return nil, nil, err
	}
	if derr != nil {
		return nil, nil, derr
	}
	return state, m, nil
}

func joinChunks(chunks [][]byte) []byte {
	if len(chunks) == 1 {
		return chunks[0]
	}
	size := 0
	for _, c := range chunks {
		size += len(c)
	}
	seg := make([]byte, 0, size)
	for _, c := range chunks {
		seg = append(seg, c...)
	}
	return seg
}

// readRange passes the records of partition p of topic in [from, to), as ReadCommitted does up to
// the stable offset. Offsets that compaction removed are simply not there.
func readRange(ctx context.Context, broker *sarama.Broker, topic string, p int32, from, to int64, fn func(Record) error) error {
	maxBytes := int32(16 << 20)
	for from < to {
		if err := ctx.Err(); err != nil {
			return err
		}
		req := &sarama.FetchRequest{Version: 11, MaxWaitTime: 100, MinBytes: 1, MaxBytes: maxBytes, Isolation: sarama.ReadCommitted}
		req.AddBlock(topic, p, from, maxBytes, -1)
		resp, err := broker.Fetch(req)
		if err != nil {
			return fmt.Errorf("fetch %s/%d at %d: %w", topic, p, from, err)
		}
		block := resp.GetBlock(topic, p)
		if block == nil {
			return fmt.Errorf("fetch %s/%d: no block in response", topic, p)
		}
		if block.Err != sarama.ErrNoError {
			return fmt.Errorf("fetch %s/%d at %d: %w", topic, p, from, block.Err)
		}
		next, n, partial, err := passBatches(topic, p, from, block, to, fn)
		if err != nil {
			return err
		}
		if next == from && n == 0 {
			if partial && maxBytes < 256<<20 {
				maxBytes *= 2
				continue
			}
			return fmt.Errorf("fetch %s/%d: nothing at %d below %d", topic, p, from, to)
		}
		from = next
	}
	return nil
}

// chunkIndex is the chunk number i of a key "<prefix><i>", if it is one of n.
func chunkIndex(key, prefix string, n int) (int, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	return i, err == nil && i >= 0 && i < n
}
