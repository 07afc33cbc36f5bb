package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"
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

// ReplayBound is one end of a replay range: none (the log's start or end), an event time
// (occurred_at; From is inclusive, To exclusive) or an offset applied to every partition
// (From: offsets >= N, To: offsets < N).
type ReplayBound struct {
	kind   int // 0 none, 1 time, 2 offset
	time   time.Time
	offset int64
}

// TimeBound bounds a replay by event time.
func TimeBound(t time.Time) ReplayBound { return ReplayBound{kind: 1, time: t} }

// OffsetBound bounds a replay by per-partition offset.
func OffsetBound(off int64) ReplayBound { return ReplayBound{kind: 2, offset: off} }

// IsZero tells whether the bound is unset.
func (b ReplayBound) IsZero() bool { return b.kind == 0 }

// Time returns the bound's time, if it is a time bound.
func (b ReplayBound) Time() (time.Time, bool) { return b.time, b.kind == 1 }

// Offset returns the bound's offset, if it is an offset bound.
func (b ReplayBound) Offset() (int64, bool) { return b.offset, b.kind == 2 }

// String renders the bound as ParseReplayBound reads it.
func (b ReplayBound) String() string {
	switch b.kind {
	case 1:
		return b.time.UTC().Format(time.RFC3339Nano)
	case 2:
		return "offset:" + strconv.FormatInt(b.offset, 10)
	}
	return ""
}

// ParseReplayBound reads "" (no bound), an RFC 3339 time, a date (YYYY-MM-DD, midnight UTC)
// or "offset:N".
func ParseReplayBound(s string) (ReplayBound, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return ReplayBound{}, nil
	}
	if rest, ok := strings.CutPrefix(s, "offset:"); ok {
		n, err := strconv.ParseInt(rest, 10, 64)
		if err != nil || n < 0 {
			return ReplayBound{}, fmt.Errorf("%q: offset:N needs a non-negative integer N", s)
		}
		return OffsetBound(n), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		// A bound prints in UTC (String); a zone may push it out of RFC 3339's years, and the
		// printed bound (chorusctl, event stats) would then not read back.
		if y := t.UTC().Year(); y < 0 || y > 9999 {
			return ReplayBound{}, fmt.Errorf("%q is outside the years 0000 to 9999 in UTC", s)
		}
		return TimeBound(t), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return TimeBound(t), nil
	}
	return ReplayBound{}, fmt.Errorf("%q is neither an RFC 3339 time (2006-01-02T15:04:05Z), a date (2006-01-02) nor offset:N", s)
}

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
	SkipBad func(rec Record, err error)
}

// PartitionRange is a partition and a range of its offsets [Start, End).
type PartitionRange struct {
	Topic     string
	Partition int32
	Start     int64
	End       int64
}

// ReplayRange is what a replay reads.
type ReplayRange struct {
	Partitions []PartitionRange
	// Total is the number of offsets in range: an upper bound of the records (it counts
	// transaction markers and aborted records too).
	Total int64
}

// ReplayRecord is one record of a replay, with its envelope decoded.
type ReplayRecord struct {
	Record
	Event Envelope
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

var errRangeEnd = errors.New("end of range")

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

// Replay reads opts.Topics in the range [opts.From, opts.To) and calls fn for every record
// (that Prepare kept) in event-time order, from one goroutine. The record and the bytes it
// points to (Value, Key, Out, Event.Data) are valid only during the call: they are reused; the
// Event's strings may be kept. See the notes at the top of this file for the order and the
// memory it needs.
func Replay(ctx context.Context, cfg Config, opts ReplayOptions, fn func(*ReplayRecord) error) (ReplayStats, error) {
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
		topics = []string{cfg.Topics.ChatEvents, cfg.Topics.UserEvents, cfg.Topics.SystemEvents}
	}
	client, err := NewReadClient(cfg)
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
	logs, err := LogRanges(client, topics)
	if err != nil {
		return st, err
	}
	for extra := min(len(logs), replayConnections) - 1; extra > 0; extra-- {
		c, err := NewReadClient(cfg)
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
	next := make([]PartitionRange, len(ranges))
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
		ends, err := ListOffsets(client, next, func(PartitionRange) int64 { return sarama.OffsetNewest })
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
		var round []PartitionRange
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
func connectLeaders(clients []sarama.Client, logs []PartitionRange) error {
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
func (r *replayer) ranges(client sarama.Client, logs []PartitionRange) ([]PartitionRange, error) {
	slack := r.slack()
	out := make([]PartitionRange, len(logs))
	copy(out, logs)
	if off, ok := r.opts.From.Offset(); ok {
		for i := range out {
			out[i].Start = max(out[i].Start, off)
		}
	} else if t, ok := r.opts.From.Time(); ok && slack > 0 {
		// Every record before the answer has an earlier timestamp (a transaction marker's may
		// be later, which only makes the answer earlier): nothing at or after From is skipped.
		ms := max(t.Add(-slack).UnixMilli(), 0)
		offs, err := ListOffsets(client, logs, func(PartitionRange) int64 { return ms })
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
	PartitionRange
	client sarama.Client
	ch     chan *chunk // full chunks, in offset order
	free   chan *chunk // chunks the merge is done with, for reuse
	err    error       // set before ch is closed
}

// chunk is a run of a partition's records with the bytes they point to. Chunks are reused,
// which is why a record is valid only during the call of fn that gets it.
type chunk struct {
	recs  []ReplayRecord
	arena []byte // copies of values and keys: a chunk must not pin a whole fetch response
	out   []byte // Prepare's renderings
	size  int
}

func (pr *partReader) chunk() *chunk {
	select {
	case c := <-pr.free:
		c.recs, c.arena, c.out, c.size = c.recs[:0], c.arena[:0], c.out[:0], 0
		return c
	default:
		return &chunk{
			recs:  make([]ReplayRecord, 0, min(pr.End-pr.Start, ReplayChunkRecords)),
			arena: make([]byte, 0, min((pr.End-pr.Start)*512, ReplayChunkBytes)),
		}
	}
}

// merge reads ranges concurrently and delivers their records to fn in key order.
func (r *replayer) merge(ctx context.Context, ranges []PartitionRange, fn func(*ReplayRecord) error) error {
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
			ch: make(chan *chunk, ReplayChunkBuffer), free: make(chan *chunk, ReplayChunkBuffer+2)}
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
	handle := func(rec Record) error {
		if rec.Offset >= pr.End {
			return errRangeEnd
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
		env, err := ParseEnvelope(rec.Value)
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
			return errRangeEnd
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
	handleOnce := func(rec Record) error {
		err := handle(rec)
		handleErr = err
		return err
	}
	next, failures := pr.Start, 0
	for next < pr.End {
		handleErr = nil
		n, err := ReadCommitted(ctx, pr.client, pr.Topic, pr.Partition, next, handleOnce)
		if errors.Is(err, errRangeEnd) {
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
	c  *chunk
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

// Envelope is the contract's event envelope with its data left as JSON. ParseEnvelope fills it
// without decoding the data, which is what makes replay fast.
type Envelope struct {
	ID            string
	Type          string
	AggregateType string
	AggregateID   string
	Version       int64
	OccurredAt    time.Time
	ActorID       string
	CommandID     string
	SchemaVersion int64
	Data          json.RawMessage // as in the record; nil when absent
	plain         bool            // Data is compact and no member name looks like a secret
	// idsGiven has bit i set when id i (id, aggregate_id, actor_id, command_id) was given as a
	// string, possibly "": DecodeEvent refuses "" as encoding/json does, but not an absent id.
	idsGiven uint8
}

// ParseEnvelope decodes an event record's value: a JSON object with at least occurred_at (RFC
// 3339). Unknown fields are ignored; the whole value is checked to be valid JSON.
func ParseEnvelope(b []byte) (Envelope, error) {
	var e Envelope
	s := jscan{b: b}
	s.ws()
	if !s.eat('{') {
		return e, s.errf("want an object")
	}
	haveTime := false
	// The ids, unescaped, become one string (one allocation) at the end.
	var ids [4][]byte
	s.ws()
	if s.eat('}') {
		return e, errors.New("empty object: no occurred_at")
	}
	for {
		s.ws()
		kstart := s.i
		key, kesc, err := s.str()
		if err != nil {
			return e, err
		}
		quotedKey := b[kstart:s.i]
		s.ws()
		if !s.eat(':') {
			return e, s.errf("want ':'")
		}
		s.ws()
		name := envelopeKey(key, quotedKey, kesc)
		if name != "" && name != "data" && s.lit("null") {
			name = "null" // a null member leaves the field as it is, as with encoding/json
		}
		switch name {
		case "null":
		case "id":
			ids[0], e.ID, err = s.idField()
			e.idsGiven |= 1 << 0
		case "aggregate_id":
			ids[1], e.AggregateID, err = s.idField()
			e.idsGiven |= 1 << 1
		case "actor_id":
			ids[2], e.ActorID, err = s.idField()
			e.idsGiven |= 1 << 2
		case "command_id":
			ids[3], e.CommandID, err = s.idField()
			e.idsGiven |= 1 << 3
		case "type":
			e.Type, err = s.internedField()
		case "aggregate_type":
			e.AggregateType, err = s.internedField()
		case "version":
			e.Version, err = s.intField()
		case "schema_version":
			e.SchemaVersion, err = s.intField()
		case "occurred_at":
			var raw []byte
			var esc bool
			if raw, esc, err = s.str(); err == nil {
				var ok bool
				if e.OccurredAt, ok = parseUTC(raw); !ok || esc {
					var ts string
					if ts, err = unquote(s.b[s.i-len(raw)-2 : s.i]); err == nil {
						e.OccurredAt, err = time.Parse(time.RFC3339Nano, ts)
					}
				}
				haveTime = err == nil
			}
		case "data":
			start := s.i
			s.track, s.dirty = true, false
			err = s.value(0)
			s.track = false
			if err == nil {
				e.Data = b[start:s.i:s.i]
				e.plain = !s.dirty
			}
		default:
			err = s.value(0)
		}
		if err != nil {
			return e, fmt.Errorf("%s: %w", key, err)
		}
		s.ws()
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			break
		}
		return e, s.errf("want ',' or '}'")
	}
	s.ws()
	if s.i != len(b) {
		return e, s.errf("data after the object")
	}
	var sb strings.Builder
	sb.Grow(len(ids[0]) + len(ids[1]) + len(ids[2]) + len(ids[3]))
	for _, id := range ids {
		sb.Write(id)
	}
	all, n := sb.String(), 0
	cut := func(i int, dst string) string {
		if ids[i] == nil {
			return dst
		}
		n += len(ids[i])
		return all[n-len(ids[i]) : n]
	}
	e.ID, e.AggregateID, e.ActorID, e.CommandID = cut(0, e.ID), cut(1, e.AggregateID), cut(2, e.ActorID), cut(3, e.CommandID)
	if !haveTime {
		return e, errors.New("no occurred_at")
	}
	return e, nil
}

// envelopeKeys are the envelope's member names, as the contract spells them.
var envelopeKeys = [...]string{"id", "aggregate_id", "actor_id", "command_id", "type", "aggregate_type", "version",
	"schema_version", "occurred_at", "data"}

// envelopeKey is the envelope member a key names, "" for none. It names one as encoding/json
// would, so that DecodeEvent reads what json.Unmarshal into a domain.Event reads: a key that
// is not spelled exactly as the contract's is unescaped and matched without regard to case
// (FuzzDecodeEvent: "ID" or "\u0069d" was read by encoding/json and ignored here). Chorus
// writes the exact names, so the slow path is for hand-made or hostile records only.
func envelopeKey(raw, quoted []byte, escaped bool) string {
	if !escaped {
		for _, k := range envelopeKeys {
			if string(raw) == k {
				return k
			}
		}
	}
	name := raw
	if escaped {
		v, err := unquote(quoted)
		if err != nil {
			return ""
		}
		name = []byte(v)
	}
	for _, k := range envelopeKeys {
		if bytes.EqualFold(name, []byte(k)) {
			return k
		}
	}
	return ""
}

var (
	internMu sync.RWMutex
	interned = map[string]string{} // event and aggregate type names: few
)

// intern returns the string of b, the same one for the same bytes (up to 4096 of them).
func intern(b []byte) string {
	internMu.RLock()
	v, ok := interned[string(b)] // no allocation for the lookup
	internMu.RUnlock()
	if ok {
		return v
	}
	v = string(b)
	internMu.Lock()
	if len(interned) < 4096 && len(v) <= 64 {
		interned[v] = v
	}
	internMu.Unlock()
	return v
}

// SecretField tells whether a field name looks like it holds a secret (it contains password,
// hash, token or secret, in any case): replay output never shows such fields.
func SecretField(name []byte) bool {
	for i := 0; i < len(name); i++ {
		var word string
		switch name[i] | 0x20 { // ASCII lower case (and harmless for other bytes)
		case 'p':
			word = "password"
		case 'h':
			word = "hash"
		case 't':
			word = "token"
		case 's':
			word = "secret"
		default:
			continue
		}
		if hasFoldAt(name, i, word) {
			return true
		}
	}
	return false
}

// hasFoldAt tells whether s has the lower-case ASCII word at i, in any case.
func hasFoldAt(s []byte, i int, word string) bool {
	if len(s)-i < len(word) {
		return false
	}
	for j := 0; j < len(word); j++ {
		c := s[i+j]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != word[j] {
			return false
		}
	}
	return true
}

// AppendJSON appends the envelope as one compact JSON object with the contract's fields in
// the contract's order and its data compact; with redact, without the data's object members (at
// any depth) whose name looks like a secret (SecretField). The same envelope always gives the
// same bytes.
func (e *Envelope) AppendJSON(dst []byte, redact bool) ([]byte, error) {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, e.ID)
	dst = append(dst, `,"type":`...)
	dst = appendJSONString(dst, e.Type)
	dst = append(dst, `,"aggregate_type":`...)
	dst = appendJSONString(dst, e.AggregateType)
	dst = append(dst, `,"aggregate_id":`...)
	dst = appendJSONString(dst, e.AggregateID)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, e.Version, 10)
	dst = append(dst, `,"occurred_at":"`...)
	dst = e.OccurredAt.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","actor_id":`...)
	dst = appendJSONString(dst, e.ActorID)
	dst = append(dst, `,"command_id":`...)
	dst = appendJSONString(dst, e.CommandID)
	dst = append(dst, `,"schema_version":`...)
	dst = strconv.AppendInt(dst, e.SchemaVersion, 10)
	dst = append(dst, `,"data":`...)
	dst, err := e.AppendData(dst, redact)
	if err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

// AppendData appends the envelope's data as AppendJSON does ("null" when absent).
func (e *Envelope) AppendData(dst []byte, redact bool) ([]byte, error) {
	if len(e.Data) == 0 {
		return append(dst, "null"...), nil
	}
	if e.plain { // what json.Marshal writes: nothing to take out
		return append(dst, e.Data...), nil
	}
	var drop func([]byte) bool
	if redact {
		drop = SecretField
	}
	s := jscan{b: e.Data}
	return s.compact(dst, drop, 0)
}

// EachDataField calls fn for every object member in data, at any depth, with its name (as
// written, escapes included) and its value as JSON (a string value with its quotes).
func EachDataField(data []byte, fn func(name, value []byte)) error {
	if len(data) == 0 {
		return nil
	}
	s := jscan{b: data, visit: fn}
	if err := s.value(0); err != nil {
		return err
	}
	s.ws()
	if s.i != len(data) {
		return s.errf("data after the value")
	}
	return nil
}

// DataHas tells whether some member of data (at any depth) named one of names is the string
// value, compared ignoring ASCII case as ids are.
func DataHas(data []byte, value string, names ...string) bool {
	found := false
	_ = EachDataField(data, func(n, v []byte) {
		if found || len(v) != len(value)+2 || v[0] != '"' || !bytes.EqualFold(v[1:len(v)-1], []byte(value)) {
			return
		}
		for _, name := range names {
			if string(n) == name {
				found = true
			}
		}
	})
	return found
}

// appendJSONString appends s as a JSON string, escaped as encoding/json escapes it.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// jscan scans JSON text. It never panics and never loops on malformed input.
type jscan struct {
	b     []byte
	i     int
	visit func(name, value []byte) // value: called for object members
	// With track set, value notes in dirty whether the value has white space between tokens
	// or a member whose name is escaped or looks like a secret: whether it can be copied as is.
	track bool
	dirty bool
}

const maxJSONDepth = 1000

func (s *jscan) errf(what string) error {
	if s.i >= len(s.b) {
		return fmt.Errorf("invalid JSON: %s at the end", what)
	}
	return fmt.Errorf("invalid JSON: %s at byte %d", what, s.i)
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
			s.dirty = s.dirty || s.track
		default:
			return
		}
	}
}

func (s *jscan) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str scans a string at s.i and returns its content between the quotes, still escaped.
func (s *jscan) str() (raw []byte, escaped bool, err error) {
	if !s.eat('"') {
		return nil, false, s.errf("want a string")
	}
	start := s.i
	var high uint64 // the high bits of the bytes skipped 8 at a time: non-ASCII?
	ascii := true
	for s.i < len(s.b) {
		// Skip 8 bytes at a time while none is a quote, a backslash or a control character.
		for s.i+8 <= len(s.b) {
			x := binary.LittleEndian.Uint64(s.b[s.i:])
			high |= x & hiBits
			if m := special8(x); m != 0 {
				s.i += bits.TrailingZeros64(m) >> 3 // the lowest flag is always a true one
				break
			}
			s.i += 8
		}
		if s.i >= len(s.b) {
			break
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			if (!ascii || high != 0) && !utf8.Valid(raw) {
				return nil, false, s.errf("invalid UTF-8 in a string")
			}
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				s.i = len(s.b)
				return nil, false, s.errf("unterminated string")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) || !isHex4(s.b[s.i+2:s.i+6]) {
					return nil, false, s.errf("bad \\u escape")
				}
				s.i += 6
			default:
				return nil, false, s.errf("bad escape")
			}
		case c < 0x20:
			return nil, false, s.errf("control character in a string")
		default:
			if c >= 0x80 {
				ascii = false
			}
			s.i++
		}
	}
	return nil, false, s.errf("unterminated string")
}

const (
	loBits = 0x0101010101010101
	hiBits = 0x8080808080808080
)

// special8 is non-zero when one of the 8 bytes of x is '"', '\\' or below 0x20 (SWAR: a zero
// byte of v shows as (v - 0x01..) & ^v & 0x80..; bytes of 0x80 and up never count as below 0x20).
func special8(x uint64) uint64 {
	q := x ^ (loBits * '"')
	b := x ^ (loBits * '\\')
	return ((q-loBits) & ^q | (b-loBits) & ^b | (x-loBits*0x20) & ^x) & hiBits
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// idField reads a string value: an unescaped one as raw bytes (ParseEnvelope makes the strings
// of all of them at once), an escaped one decoded (null: neither).
func (s *jscan) idField() ([]byte, string, error) {
	if s.lit("null") {
		return nil, "", nil
	}
	start := s.i
	r, esc, err := s.str()
	if err != nil || !esc {
		return r, "", err
	}
	v, err := unquote(s.b[start:s.i])
	return nil, v, err
}

// unquote decodes a JSON string with escapes (rare: off the fast path).
func unquote(quoted []byte) (string, error) {
	var v string
	err := json.Unmarshal(quoted, &v)
	return v, err
}

// internedField reads a string value that is one of few (a type name), without allocating
// for the ones seen before.
func (s *jscan) internedField() (string, error) {
	if s.lit("null") {
		return "", nil
	}
	start := s.i
	raw, esc, err := s.str()
	if err != nil {
		return "", err
	}
	if esc {
		return unquote(s.b[start:s.i])
	}
	return intern(raw), nil
}

// parseUTC reads the one form of RFC 3339 time the command processor writes
// (2006-01-02T15:04:05.999999999Z); ok is false for anything else (time.Parse then decides).
func parseUTC(b []byte) (t time.Time, ok bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[len(b)-1] != 'Z' {
		return t, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day, hour, minute, sec := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2)
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return t, false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return t, false
		}
		if nsec = num(20, len(frac)-1); nsec < 0 {
			return t, false
		}
		for i := len(frac) - 1; i < 9; i++ {
			nsec *= 10
		}
	}
	t = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // February 30th and the like
		return time.Time{}, false
	}
	return t, true
}

// intField reads an integer value (null reads as 0).
func (s *jscan) intField() (int64, error) {
	if s.lit("null") {
		return 0, nil
	}
	start := s.i
	if err := s.number(); err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want an integer: %w", err)
	}
	return n, nil
}

// lit consumes the literal word if it is next.
func (s *jscan) lit(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

func (s *jscan) number() error {
	start := s.i
	s.eat('-')
	switch {
	case s.eat('0'):
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		s.digits()
	default:
		return s.errf("bad number")
	}
	if s.eat('.') {
		if s.digits() == 0 {
			return s.errf("bad number")
		}
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if s.digits() == 0 {
			return s.errf("bad number")
		}
	}
	if s.i == start {
		return s.errf("bad number")
	}
	return nil
}

func (s *jscan) digits() int {
	n := 0
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// value scans one value at s.i (after white space), calling visit for object members.
func (s *jscan) value(depth int) error {
	if depth > maxJSONDepth {
		return s.errf("nested too deeply")
	}
	s.ws()
	if s.i >= len(s.b) {
		return s.errf("want a value")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		s.i++
		s.ws()
		if s.eat('}') {
			return nil
		}
		for {
			s.ws()
			name, esc, err := s.str()
			if err != nil {
				return err
			}
			if s.track && (esc || SecretField(name)) {
				s.dirty = true
			}
			s.ws()
			if !s.eat(':') {
				return s.errf("want ':'")
			}
			s.ws()
			start := s.i
			if err := s.value(depth + 1); err != nil {
				return err
			}
			if s.visit != nil {
				s.visit(name, s.b[start:s.i])
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				return nil
			}
			return s.errf("want ',' or '}'")
		}
	case c == '[':
		s.i++
		s.ws()
		if s.eat(']') {
			return nil
		}
		for {
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			if s.eat(']') {
				return nil
			}
			return s.errf("want ',' or ']'")
		}
	case c == '"':
		_, _, err := s.str()
		return err
	case c == 't':
		if s.lit("true") {
			return nil
		}
	case c == 'f':
		if s.lit("false") {
			return nil
		}
	case c == 'n':
		if s.lit("null") {
			return nil
		}
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	}
	return s.errf("want a value")
}

// compact appends the value at s.i without white space and without the object members whose
// name (unescaped) drop matches.
func (s *jscan) compact(dst []byte, drop func([]byte) bool, depth int) ([]byte, error) {
	if depth > maxJSONDepth {
		return dst, s.errf("nested too deeply")
	}
	s.ws()
	if s.i >= len(s.b) {
		return dst, s.errf("want a value")
	}
	switch s.b[s.i] {
	case '{':
		s.i++
		dst = append(dst, '{')
		s.ws()
		if s.eat('}') {
			return append(dst, '}'), nil
		}
		first := true
		for {
			s.ws()
			start := s.i
			name, esc, err := s.str()
			if err != nil {
				return dst, err
			}
			end := s.i
			s.ws()
			if !s.eat(':') {
				return dst, s.errf("want ':'")
			}
			if esc {
				var n string
				if err := json.Unmarshal(s.b[start:end], &n); err != nil {
					return dst, err
				}
				name = []byte(n)
			}
			if drop != nil && drop(name) {
				if err := s.value(depth + 1); err != nil {
					return dst, err
				}
			} else {
				if !first {
					dst = append(dst, ',')
				}
				first = false
				dst = append(dst, s.b[start:end]...)
				dst = append(dst, ':')
				if dst, err = s.compact(dst, drop, depth+1); err != nil {
					return dst, err
				}
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				return append(dst, '}'), nil
			}
			return dst, s.errf("want ',' or '}'")
		}
	case '[':
		s.i++
		dst = append(dst, '[')
		s.ws()
		if s.eat(']') {
			return append(dst, ']'), nil
		}
		for {
			var err error
			if dst, err = s.compact(dst, drop, depth+1); err != nil {
				return dst, err
			}
			s.ws()
			if s.eat(',') {
				dst = append(dst, ',')
				continue
			}
			if s.eat(']') {
				return append(dst, ']'), nil
			}
			return dst, s.errf("want ',' or ']'")
		}
	default:
		start := s.i
		if err := s.value(depth); err != nil {
			return dst, err
		}
		return append(dst, s.b[start:s.i]...), nil
	}
}
