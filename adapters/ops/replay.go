package ops

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/chorus-chat/chorus/adapters/kafka"
)

// Replay reads event topics straight from the log for analysts and admin tools: every partition,
// read committed (ReadCommitted), merged into one stream ordered by event time.
//
// Order. Records come out ordered by (occurred_at, topic, partition, offset): deterministic for a
// given range. The merge is a k-way merge of the partitions, which assumes that each partition's
// event times do not decrease with the offset. The command processor makes that so (one clock
// reading per transaction, taken after the previous one committed); a partition whose times do
// step back (a new owner with a clock behind the old one's) still comes out complete and
// deterministic, and ReplayStats.OutOfOrder counts the records that came out after a later one.
//
// Following (ReplayOptions.Follow) merges each poll's new records the same way; a record
// committed late (its partition's last stable offset was held back by an open transaction) can
// come out after a later one of an earlier poll.
//
// Memory. A partition reader holds at most one fetch response (ReadCommitted asks for up to
// 4 MiB, more only for a single larger batch) and ReplayChunkBuffer+2 chunks (buffered, being
// filled, being merged) of at most ReplayChunkRecords records or ReplayChunkBytes bytes of values
// and renderings, about 0.2 MiB each. So a replay needs at most about 5 MiB per partition that
// still has records to read, whatever the size of the range: some 60 MiB live for 12 busy
// partitions (a process RSS of about 125 MiB with the garbage collector's headroom, measured),
// and much less when partitions hold less than a fetch. The fetch size of ReadCommitted is what
// dominates.

// Chunking of the partition readers (see the memory note above).
const (
	ReplayChunkRecords = 256
	ReplayChunkBytes   = 128 << 10
	ReplayChunkBuffer  = 2
)

// DefaultTimeSlack is how far event times may step back within a partition without a time
// bound missing an event: a From time starts each partition at the first record whose timestamp
// (which the command processor sets to occurred_at) is at or after From minus the slack, found
// by the broker's time index; a To time stops each partition at its first event more than the
// slack after To. Events outside the bounds are dropped by their occurred_at, so the bounds
// are exact.
const DefaultTimeSlack = time.Minute

// ReplayOptions says what to replay.
type ReplayOptions struct {
	// Topics to read; every partition of each. Empty: the chat, user and system event topics of
	// the Config.
	Topics []string
	// From and To bound the range; To is exclusive. Time bounds are exact (by occurred_at);
	// see DefaultTimeSlack for how they become offsets.
	From, To ReplayBound
	// TimeSlack: 0 means DefaultTimeSlack; a negative value reads whole partitions and
	// filters by occurred_at only.
	TimeSlack time.Duration
	// Follow keeps reading after the end: every PollInterval (default 250 ms) the new records
	// since the last round are merged and delivered, until ctx ends, which is then no error.
	// Order holds within a round; a round never delivers what an earlier one did.
	Follow       bool
	PollInterval time.Duration
	// Prepare, if set, runs on the partition readers, concurrently across partitions and in
	// offset order within one, for every record in range, before the merge. It may append a
	// rendering of the record to out (the returned slice becomes rec.Out) and returns whether
	// to keep the record. Heavy per-record work (filters, encoding) belongs here.
	Prepare func(rec *ReplayRecord, out []byte) ([]byte, bool, error)
	// OnStart is called once the range's offsets are known, before any record.
	OnStart func(ReplayRange)
	// OnCaughtUp is called after the range (and, when following, after every round that
	// delivered records), from the goroutine that calls fn: a place to flush output.
	OnCaughtUp func() error
	// Progress, if set, grows by the offsets the readers have passed (records, filtered or
	// not, and transaction markers): compare it to ReplayRange.Total.
	Progress *atomic.Int64
	// SkipBad, if set, is told about a record that is not a valid envelope and the record is
	// skipped; otherwise such a record ends the replay with an error.
	SkipBad func(rec kafka.Record, err error)
}

// ReplayRange is what a replay reads.
type ReplayRange struct {
	Partitions []kafka.PartitionRange
	// Total is the number of offsets in range: an upper bound of the records (it counts
	// transaction markers and aborted records too).
	Total int64
}

// ReplayRecord is one record of a replay, with its envelope decoded.
type ReplayRecord struct {
	kafka.Record
	Event kafka.Envelope
	// Out is what Prepare appended for this record.
	Out []byte
	at  int64 // occurred_at, Unix nanoseconds: the merge key
}

// ReplayStats counts what a replay did.
type ReplayStats struct {
	Read       int64 // committed data records read
	Delivered  int64 // records passed to fn
	Skipped    int64 // records that were not valid envelopes (with SkipBad)
	OutOfOrder int64 // records delivered after one with a later event time (see Replay)
}

var errReplayRangeEnd = errors.New("end of range")

// Replay reads opts.Topics in the range [opts.From, opts.To) and calls fn for every record
// (that Prepare kept) in event-time order, from one goroutine. The record and the bytes it
// points to (Value, Key, Out, Event.Data) are valid only during the call: they are reused; the
// Event's strings may be kept. See the notes at the top of this file for the order and the
// memory it needs.
func Replay(ctx context.Context, cfg kafka.Config, opts ReplayOptions, fn func(*ReplayRecord) error) (ReplayStats, error) {
	var st ReplayStats
	if opts.Follow && !opts.To.IsZero() {
		return st, errors.New("replay: a followed replay has no end (To must be unset)")
	}
	var topics []string
	for _, t := range opts.Topics {
		if !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	if len(topics) == 0 {
		topics = cfg.Topics.EventTopics()
	}
	client, err := kafka.NewReadClient(cfg)
	if err != nil {
		return st, err
	}
	defer client.Close()
	// A few connections: a broker answers one connection's requests one after the other.
	clients := []sarama.Client{client}
	defer func() {
		for _, c := range clients[1:] {
			_ = c.Close()
		}
	}()
	logs, err := kafka.LogRanges(client, topics)
	if err != nil {
		return st, err
	}
	for extra := min(len(logs), replayConnections) - 1; extra > 0; extra-- {
		c, err := kafka.NewReadClient(cfg)
		if err != nil {
			return st, err
		}
		clients = append(clients, c)
	}
	if err := connectLeaders(clients, logs); err != nil {
		return st, err
	}
	r := &replayer{opts: opts, clients: clients, stats: &st}
	r.timeFilter()
	ranges, err := r.ranges(client, logs)
	if err != nil {
		return st, err
	}
	rr := ReplayRange{Partitions: ranges}
	for _, p := range ranges {
		rr.Total += p.End - p.Start
	}
	if opts.OnStart != nil {
		opts.OnStart(rr)
	}
	if err := r.merge(ctx, ranges, fn); err != nil {
		if opts.Follow && ctx.Err() != nil {
			return st, nil // ending a followed replay is how it ends
		}
		return st, err
	}
	if opts.OnCaughtUp != nil {
		if err := opts.OnCaughtUp(); err != nil {
			return st, err
		}
	}
	if !opts.Follow {
		return st, nil
	}
	poll := opts.PollInterval
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	next := make([]kafka.PartitionRange, len(ranges))
	copy(next, ranges)
	var failingSince time.Time
	for {
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return st, nil
		case <-t.C:
		}
		ends, err := kafka.ListOffsets(client, next, func(kafka.PartitionRange) int64 { return sarama.OffsetNewest })
		if err != nil {
			if ctx.Err() != nil {
				return st, nil
			}
			// The broker may be restarting: keep trying for a while.
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if time.Since(failingSince) > followPatience {
				return st, err
			}
			_ = client.RefreshMetadata()
			continue
		}
		failingSince = time.Time{}
		var round []kafka.PartitionRange
		for i := range next {
			next[i].Start = next[i].End
			if ends[i] > next[i].Start {
				next[i].End = ends[i]
				round = append(round, next[i])
			}
		}
		if len(round) == 0 {
			continue
		}
		before := st.Delivered
		if err := r.merge(ctx, round, fn); err != nil {
			if ctx.Err() != nil {
				return st, nil
			}
			return st, err
		}
		if opts.OnCaughtUp != nil && st.Delivered > before {
			if err := opts.OnCaughtUp(); err != nil {
				return st, err
			}
		}
	}
}

// connectLeaders opens each client's connections to the partitions' leaders, one at a time.
// Sarama's Broker.Open marks a broker open before it takes the lock that requests wait on, so
// a request racing a first Open from another goroutine fails with "broker not connected"; the
// partition readers share clients, so they must find them connected.
func connectLeaders(clients []sarama.Client, logs []kafka.PartitionRange) error {
	for _, c := range clients {
		seen := map[*sarama.Broker]bool{}
		for _, p := range logs {
			b, err := c.Leader(p.Topic, p.Partition)
			if err != nil {
				return fmt.Errorf("leader of %s/%d: %w", p.Topic, p.Partition, err)
			}
			if seen[b] {
				continue
			}
			seen[b] = true
			if ok, err := b.Connected(); !ok {
				if err == nil {
					err = sarama.ErrNotConnected
				}
				return fmt.Errorf("cannot reach Kafka broker %s: %w", b.Addr(), err)
			}
		}
	}
	return nil
}

// followPatience is how long a followed replay keeps polling a broker that fails.
const followPatience = 30 * time.Second

// replayConnections is how many broker connections a replay spreads its partitions over.
const replayConnections = 4

type replayer struct {
	opts    ReplayOptions
	clients []sarama.Client
	stats   *ReplayStats
	// exact filter by occurred_at, Unix nanoseconds
	fromNs, toNs int64
	hasFrom      bool
	hasTo        bool
	stopNs       int64 // a reader stops at the first event at or after this (To + slack)
	stopEarly    bool
	lastAt       int64 // merge: the last delivered key, for OutOfOrder
	lastSet      bool
	read         atomic.Int64
	skipped      atomic.Int64
}

func (r *replayer) timeFilter() {
	if t, ok := r.opts.From.Time(); ok {
		r.fromNs, r.hasFrom = unixNano(t), true
	}
	if t, ok := r.opts.To.Time(); ok {
		r.toNs, r.hasTo = unixNano(t), true
		if slack := r.slack(); slack > 0 {
			r.stopNs, r.stopEarly = unixNano(t.Add(slack)), true
		}
	}
}

func (r *replayer) slack() time.Duration {
	if r.opts.TimeSlack == 0 {
		return DefaultTimeSlack
	}
	return r.opts.TimeSlack
}

// unixNano is t in Unix nanoseconds, clamped to what an int64 holds (years 1678 to 2262).
func unixNano(t time.Time) int64 {
	switch {
	case t.Year() < 1678:
		return math.MinInt64
	case t.Year() > 2261:
		return math.MaxInt64
	}
	return t.UnixNano()
}

// ranges turns the bounds into offsets per partition.
func (r *replayer) ranges(client sarama.Client, logs []kafka.PartitionRange) ([]kafka.PartitionRange, error) {
	slack := r.slack()
	out := make([]kafka.PartitionRange, len(logs))
	copy(out, logs)
	if off, ok := r.opts.From.Offset(); ok {
		for i := range out {
			out[i].Start = max(out[i].Start, off)
		}
	} else if t, ok := r.opts.From.Time(); ok && slack > 0 {
		// Every record before the answer has an earlier timestamp (a transaction marker's may
		// be later, which only makes the answer earlier): nothing at or after From is skipped.
		ms := max(t.Add(-slack).UnixMilli(), 0)
		offs, err := kafka.ListOffsets(client, logs, func(kafka.PartitionRange) int64 { return ms })
		if err != nil {
			return nil, err
		}
		for i := range out {
			if offs[i] < 0 {
				out[i].Start = out[i].End // no record at or after the time
			} else {
				out[i].Start = max(out[i].Start, offs[i])
			}
		}
	}
	// A To time is not looked up the same way: the lookup would also stop at a transaction
	// marker, whose timestamp is the broker's clock, not an event time. Instead each reader
	// stops at the first event more than the slack after To.
	if off, ok := r.opts.To.Offset(); ok {
		for i := range out {
			out[i].End = min(out[i].End, off)
		}
	}
	for i := range out {
		if out[i].End < out[i].Start {
			out[i].End = out[i].Start
		}
	}
	return out, nil
}

// partReader reads one partition range into chunks.
type partReader struct {
	kafka.PartitionRange
	client sarama.Client
	ch     chan *replayChunk // full chunks, in offset order
	free   chan *replayChunk // chunks the merge is done with, for reuse
	err    error             // set before ch is closed
}

// replayChunk is a run of a partition's records with the bytes they point to. Chunks are reused,
// which is why a record is valid only during the call of fn that gets it.
type replayChunk struct {
	recs  []ReplayRecord
	arena []byte // copies of values and keys: a chunk must not pin a whole fetch response
	out   []byte // Prepare's renderings
	size  int
}

func (pr *partReader) chunk() *replayChunk {
	select {
	case c := <-pr.free:
		c.recs, c.arena, c.out, c.size = c.recs[:0], c.arena[:0], c.out[:0], 0
		return c
	default:
		return &replayChunk{
			recs:  make([]ReplayRecord, 0, min(pr.End-pr.Start, ReplayChunkRecords)),
			arena: make([]byte, 0, min((pr.End-pr.Start)*512, ReplayChunkBytes)),
		}
	}
}

// merge reads ranges concurrently and delivers their records to fn in key order.
func (r *replayer) merge(ctx context.Context, ranges []kafka.PartitionRange, fn func(*ReplayRecord) error) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		r.stats.Read = r.read.Load()
		r.stats.Skipped = r.skipped.Load()
	}()
	var readers []*partReader
	for i, p := range ranges {
		if p.End <= p.Start {
			continue
		}
		pr := &partReader{PartitionRange: p, client: r.clients[i%len(r.clients)],
			ch: make(chan *replayChunk, ReplayChunkBuffer), free: make(chan *replayChunk, ReplayChunkBuffer+2)}
		readers = append(readers, pr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(pr.ch)
			pr.err = r.readPartition(ctx, pr)
		}()
	}
	h := make(cursorHeap, 0, len(readers))
	for _, pr := range readers {
		c := &cursor{pr: pr}
		ok, err := c.fill(ctx)
		if err != nil {
			return err
		}
		if ok {
			h = append(h, c)
		}
	}
	h.init()
	for len(h) > 0 {
		c := h[0]
		rec := &c.c.recs[c.i]
		if r.lastSet && rec.at < r.lastAt {
			r.stats.OutOfOrder++
		} else {
			r.lastAt, r.lastSet = rec.at, true
		}
		if err := fn(rec); err != nil {
			return err
		}
		r.stats.Delivered++
		c.i++
		if c.i == len(c.c.recs) {
			ok, err := c.fill(ctx)
			if err != nil {
				return err
			}
			if !ok {
				h.pop()
				continue
			}
		}
		h.down(0)
	}
	return nil
}

// readRetries is how many times in a row a partition reader retries a failed read (a dropped
// connection, a leader change) before the replay fails.
const readRetries = 4

// readPartition reads pr's range with ReadCommitted, decodes, filters and prepares every record
// and hands the records on in chunks.
func (r *replayer) readPartition(ctx context.Context, pr *partReader) error {
	c := pr.chunk()
	pos := pr.Start // progress: offsets passed
	send := func() error {
		if len(c.recs) == 0 {
			return nil
		}
		select {
		case pr.ch <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
		c = pr.chunk()
		return nil
	}
	progress := func(to int64) {
		if r.opts.Progress != nil && to > pos {
			r.opts.Progress.Add(to - pos)
		}
		pos = max(pos, to)
	}
	var read int64
	defer func() { r.read.Add(read) }()
	handle := func(rec kafka.Record) error {
		if rec.Offset >= pr.End {
			return errReplayRangeEnd
		}
		progress(rec.Offset + 1)
		read++
		need := len(rec.Value) + len(rec.Key)
		if cap(c.arena)-len(c.arena) < need && len(c.recs) > 0 {
			if err := send(); err != nil {
				return err
			}
		}
		if cap(c.arena)-len(c.arena) >= need {
			n := len(c.arena)
			c.arena = append(c.arena, rec.Value...)
			rec.Value = c.arena[n:len(c.arena):len(c.arena)]
			if rec.Key != nil {
				n = len(c.arena)
				c.arena = append(c.arena, rec.Key...)
				rec.Key = c.arena[n:len(c.arena):len(c.arena)]
			}
		} else { // larger than a chunk's arena: a copy of its own
			rec.Value = append([]byte(nil), rec.Value...)
			rec.Key = append([]byte(nil), rec.Key...)
		}
		env, err := kafka.ParseEnvelope(rec.Value)
		if err != nil {
			err = fmt.Errorf("event at %s/%d/%d is not a valid envelope: %w", rec.Topic, rec.Partition, rec.Offset, err)
			if r.opts.SkipBad == nil {
				return err
			}
			r.skipped.Add(1)
			r.opts.SkipBad(rec, err)
			return nil
		}
		at := unixNano(env.OccurredAt)
		if r.stopEarly && at >= r.stopNs {
			return errReplayRangeEnd
		}
		if (r.hasFrom && at < r.fromNs) || (r.hasTo && at >= r.toNs) {
			return nil
		}
		c.recs = append(c.recs, ReplayRecord{Record: rec, Event: env, at: at})
		rr := &c.recs[len(c.recs)-1]
		if r.opts.Prepare != nil {
			before := len(c.out)
			var keep bool
			c.out, keep, err = r.opts.Prepare(rr, c.out)
			if err != nil {
				return err
			}
			if !keep {
				c.out = c.out[:before]
				c.recs = c.recs[:len(c.recs)-1]
				return nil
			}
			rr.Out = c.out[before:len(c.out):len(c.out)]
		}
		c.size += need + len(rr.Out)
		if len(c.recs) == cap(c.recs) || c.size >= ReplayChunkBytes {
			return send()
		}
		return nil
	}
	var handleErr error
	handleOnce := func(rec kafka.Record) error {
		err := handle(rec)
		handleErr = err
		return err
	}
	next, failures := pr.Start, 0
	for next < pr.End {
		handleErr = nil
		n, err := kafka.ReadCommitted(ctx, pr.client, pr.Topic, pr.Partition, next, handleOnce)
		if errors.Is(err, errReplayRangeEnd) {
			break
		}
		if err != nil && (handleErr != nil || ctx.Err() != nil) {
			return err
		}
		if err != nil {
			// A Kafka error (a dropped connection, a leader change): the records before n
			// were handled; retry from there after refreshing the metadata.
			if n > next {
				failures = 0
			}
			next = n
			if failures++; failures > readRetries {
				return err
			}
			sleep(ctx, time.Duration(50<<failures)*time.Millisecond)
			_ = pr.client.RefreshMetadata(pr.Topic)
			continue
		}
		if n <= next {
			return fmt.Errorf("read %s/%d: no progress at offset %d before the end %d", pr.Topic, pr.Partition, next, pr.End)
		}
		next, failures = n, 0
	}
	progress(pr.End)
	return send()
}

type cursor struct {
	pr *partReader
	c  *replayChunk
	i  int
}

// fill takes the partition's next chunk, handing the one it is done with back to the reader;
// false when the partition has no more.
func (c *cursor) fill(ctx context.Context) (bool, error) {
	if c.c != nil {
		select {
		case c.pr.free <- c.c:
		default:
		}
		c.c = nil
	}
	select {
	case ch, ok := <-c.pr.ch:
		if !ok {
			return false, c.pr.err
		}
		c.c, c.i = ch, 0
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (c *cursor) head() *ReplayRecord { return &c.c.recs[c.i] }

// cursorHeap is a min-heap of cursors by their head record's key.
type cursorHeap []*cursor

func replayLess(a, b *ReplayRecord) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.Topic != b.Topic {
		return a.Topic < b.Topic
	}
	if a.Partition != b.Partition {
		return a.Partition < b.Partition
	}
	return a.Offset < b.Offset
}

func (h cursorHeap) less(i, j int) bool { return replayLess(h[i].head(), h[j].head()) }

func (h cursorHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h cursorHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func (h *cursorHeap) pop() {
	old := *h
	n := len(old) - 1
	old[0] = old[n]
	old[n] = nil
	*h = old[:n]
	h.down(0)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
