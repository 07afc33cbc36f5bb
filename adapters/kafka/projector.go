package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/chorus-chat/chorus/adapters/metrics"
	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// MaxProjectorBatch bounds how many records a projector handles in one call (one Postgres
// transaction for the read model).
const MaxProjectorBatch = 1000

// DefaultProjectorAttempts is how many times a failing batch, then each of its records, is tried
// before the records that still fail are dead-lettered.
const DefaultProjectorAttempts = 5

// Headers of a dead letter: the projection that gave up, where the record came from, and why.
const (
	HeaderDeadLetterProjection = "projection"
	HeaderDeadLetterGroup      = "group"
	HeaderDeadLetterTopic      = "source-topic"
	HeaderDeadLetterPartition  = "source-partition"
	HeaderDeadLetterOffset     = "source-offset"
	HeaderDeadLetterError      = "error"
	HeaderDeadLetterAt         = "dead-lettered-at"
)

// maxErrorHeader bounds the error text a dead letter carries.
const maxErrorHeader = 4096

// ProjectionHandler is one projection: it keeps its own checkpoints (next offset per topic and
// partition, stored with its effects) and handles batches of records in offset order per partition.
//
// Handle's errors are about the records unless marked Unavailable: a failure of what the
// projection writes to (the database, Redis) is retried without end and never dead-letters
// anything, since every record would fail alike until it is back.
type ProjectionHandler interface {
	Checkpoints(ctx context.Context) (map[string]map[int32]int64, error)
	Handle(ctx context.Context, recs []Record) error
}

// RecordSkipper is a ProjectionHandler that can move past a record it cannot project: Skip
// advances its checkpoint past rec (so it is not handed to the projection again) and records,
// where the projection keeps its counts, that rec was dead-lettered because of cause. The runner
// dead-letters only for handlers that implement it; a handler without it is retried without end
// on a record that keeps failing, as if every error were Unavailable.
type RecordSkipper interface {
	Skip(ctx context.Context, rec Record, cause error) error
}

// Unavailable marks err as a failure of a dependency rather than of the records it was handling
// (the projections' own mark, checkpoint.Unavailable: one mark for both sides).
func Unavailable(err error) error { return checkpoint.Unavailable(err) }

// IsUnavailable tells whether err (or an error it wraps) was marked Unavailable.
func IsUnavailable(err error) bool { return checkpoint.IsUnavailable(err) }

// Projector runs a projection as its own consumer group: the group spreads partitions over the
// projector processes, the projection's own checkpoints (not Kafka's group offsets) say where
// each partition resumes.
//
// A batch that keeps failing is tried Attempts times with backoff, then its records one by one,
// each Attempts times; a record that still fails is appended to the dead-letter topic (with
// headers naming the projection, the record's topic, partition and offset, and the error) and
// skipped (RecordSkipper), and the projection moves on. Failures marked Unavailable do not count
// as attempts.
type Projector struct {
	cfg        Config
	group      string
	topics     []string
	h          ProjectionHandler
	log        *slog.Logger
	projection string
	attempts   int
	met        *metrics.Metrics // nil: not measured
	// fetchMin and fetchWait, when set, let the broker gather records before answering a fetch.
	fetchMin  int32
	fetchWait time.Duration
	// apart are the topics read in a consumer group of their own, apartGroup (Apart).
	apart      []string
	apartGroup string

	mu       sync.Mutex
	producer sarama.SyncProducer // for dead letters, opened at the first one
	dead     atomic.Int64        // records dead-lettered by this process

	failures     FailureLog // nil: failures are only logged
	failing      atomic.Int64
	lastFailure  atomic.Int64 // unix nanoseconds of the last report to failures
	failingSince atomic.Int64 // unix nanoseconds of the first failure in a row; 0: not failing
	lastErr      atomic.Pointer[string]
}

// Health is what a projector process says of its projection (/readyz): whether its last
// attempt failed, and since when.
type Health struct {
	Projection string
	Failing    bool
	Failures   int64     // failed attempts in a row
	Since      time.Time // the first of them
	LastError  string
	// DeadLettered is how many records this process gave up on since it started: each one is
	// an event that was accepted and is missing from the projection, a bug.
	DeadLettered int64
}

// Health tells how the projection fares in this process.
func (p *Projector) Health() Health {
	h := Health{Projection: p.projection, Failures: p.failing.Load(), DeadLettered: p.dead.Load()}
	if since := p.failingSince.Load(); since != 0 && h.Failures > 0 {
		h.Failing, h.Since = true, time.Unix(0, since).UTC()
		if e := p.lastErr.Load(); e != nil {
			h.LastError = *e
		}
	}
	return h
}

// FailureLog is told when a projector keeps failing and when it recovers, so that the
// projection's status can show it (projection_failures).
type FailureLog interface {
	// Failing reports a failed attempt: the failures in a row so far and the last error.
	Failing(ctx context.Context, projection string, failures int64, err error) error
	// Recovered reports the first success after failures.
	Recovered(ctx context.Context, projection string) error
}

// WithFailures has the projector report to f while it keeps failing. Call it before Run.
func (p *Projector) WithFailures(f FailureLog) *Projector {
	p.failures = f
	return p
}

// recovered clears the projection's failure, if it was failing.
func (p *Projector) recovered(ctx context.Context) {
	if p.failing.Swap(0) == 0 {
		return
	}
	p.failingSince.Store(0)
	p.met.ProjectionFailing(p.projection, false)
	p.log.Info("projection recovered", "projection", p.projection)
	if p.failures != nil {
		if err := p.failures.Recovered(ctx, p.projection); err != nil {
			p.log.Warn("cannot clear the projection's failure", "err", err)
		}
	}
}

// failureReportEvery bounds how often a projector that keeps failing writes to its FailureLog.
const failureReportEvery = time.Second

// handle runs the handler on recs and tells the FailureLog how it went.
func (p *Projector) handle(ctx context.Context, recs []Record) error {
	err := p.h.Handle(ctx, recs)
	if ctx.Err() != nil {
		return err
	}
	if err == nil {
		p.recovered(ctx)
		return nil
	}
	n := p.failing.Add(1)
	now := time.Now().UnixNano()
	msg := err.Error()
	p.lastErr.Store(&msg)
	if n == 1 {
		p.failingSince.Store(now)
		p.met.ProjectionFailing(p.projection, true)
	}
	if p.failures == nil {
		return err
	}
	if last := p.lastFailure.Load(); n == 1 || now-last >= int64(failureReportEvery) {
		p.lastFailure.Store(now)
		if rerr := p.failures.Failing(ctx, p.projection, n, err); rerr != nil {
			p.log.Warn("cannot record the projection's failure", "err", rerr)
		}
	}
	return err
}

// NewProjector makes a projector for a group reading topics. Its dead letters name the group
// as the projection and it tries DefaultProjectorAttempts times; see WithDeadLetters.
func NewProjector(cfg Config, group string, topics []string, h ProjectionHandler, log *slog.Logger) *Projector {
	return &Projector{
		cfg: cfg, group: group, topics: topics, h: h, log: log.With("projector", group),
		projection: group, attempts: DefaultProjectorAttempts,
	}
}

// WithDeadLetters names the projection in the projector's dead letters and sets how many
// times a failing batch, then each of its records, is tried (at least 1) before the failing
// records are dead-lettered. Call it before Run.
func (p *Projector) WithDeadLetters(projection string, attempts int) *Projector {
	if projection != "" {
		p.projection = projection
	}
	p.attempts = max(attempts, 1)
	return p
}

// Gathering asks the broker to answer this projector's fetches only once minBytes are ready or
// maxWait has passed: fewer, larger batches for projections nobody waits on within milliseconds.
// A Kafka broker serves every fetch, and the embedded one serves all requests of all clients
// from one loop: measured, two extra projectors fetching every record as it came put 0.3–0.9 s
// between a send and its delivery at 1,000 msg/s (docs/benchmarks.md).
func (p *Projector) Gathering(minBytes int32, maxWait time.Duration) *Projector {
	p.fetchMin, p.fetchWait = minBytes, maxWait
	return p
}

// Apart has the projector read topics (some of its own) in a consumer group of their own, named
// its group + suffix, beside the group that reads the others. For a projection whose topics are
// busy and quiet at once: a Kafka client's fetch names every partition its group holds on the
// broker, and Sarama hands each answer to a goroutine per partition, so the push projection,
// which waits for nothing, paid for the 24 partitions of system-events and org-events on every
// chat message (docs/benchmarks.md). The topics apart are taken to be quiet: their group does not
// gather (Gathering), so that it asks the broker every 500 ms rather than at the gathering's
// pace, and a record there is handed over as it comes. The handler is then called by both groups
// at once, as it is by several partitions. Call it before Run.
func (p *Projector) Apart(suffix string, topics ...string) *Projector {
	p.apart, p.apartGroup = topics, p.group+suffix
	return p
}

// UseMetrics has the projector measure its batches, its lag per partition and its dead letters
// in m (nil turns measuring off). Call it before Run.
func (p *Projector) UseMetrics(m *metrics.Metrics) *Projector {
	p.met = m
	return p
}

// DeadLettered is how many records this projector has dead-lettered since it started.
func (p *Projector) DeadLettered() int64 { return p.dead.Load() }

// Run consumes until ctx ends.
func (p *Projector) Run(ctx context.Context) error {
	p.met.ProjectionWatched(p.projection)
	defer p.closeProducer()
	main := &lane{p: p, group: p.group, gathers: p.fetchMin > 0}
	for _, t := range p.topics {
		if !slices.Contains(p.apart, t) {
			main.topics = append(main.topics, t)
		}
	}
	var lanes []*lane
	if len(main.topics) > 0 {
		lanes = append(lanes, main)
	}
	if len(p.apart) > 0 {
		lanes = append(lanes, &lane{p: p, group: p.apartGroup, topics: p.apart})
	}
	// A lane that cannot start stops the others: the projector fails as a whole.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(lanes))
	for _, l := range lanes {
		go func() {
			err := l.run(ctx)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var err error
	for range lanes {
		err = errors.Join(err, <-errs)
	}
	return err
}

// lane is one consumer group of a projector, reading some of its topics (Apart).
type lane struct {
	p      *Projector
	group  string
	topics []string
	// gathers: the lane's fetches wait for the projector's Gathering.
	gathers bool
	// claimed is where the current session's claims hand their records to its applier (apply).
	claimed chan *claimBatch
}

// run consumes the lane's topics until ctx ends.
func (l *lane) run(ctx context.Context) error {
	p := l.p
	sc := p.cfg.Sarama()
	sc.ChannelBufferSize = MaxProjectorBatch
	// A fetch is answered as soon as records arrive, whatever its wait; the wait only bounds how
	// often an idle projector asks again. Every answer wakes the goroutine of each of the group's
	// partitions (Sarama feeds each its part), so at the command processor's 50 ms the idle
	// projectors of the all-in-one process cost 40% more CPU (measured: 0.08 against 0.05 of a
	// core at 10 messages/s). 500 ms is Kafka's default.
	sc.Consumer.MaxWaitTime = 500 * time.Millisecond
	if l.gathers {
		sc.Consumer.Fetch.Min = p.fetchMin
		sc.Consumer.MaxWaitTime = p.fetchWait
	}
	group, err := sarama.NewConsumerGroup(p.cfg.Brokers, l.group, sc)
	if err != nil {
		return fmt.Errorf("projector group %s: %w", l.group, err)
	}
	defer group.Close()
	go func() {
		for err := range group.Errors() {
			p.log.Warn("projector group", "group", l.group, "err", err)
			p.met.KafkaError("projector", "consumer")
		}
	}()
	for ctx.Err() == nil {
		if err := group.Consume(ctx, l.topics, l); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) || ctx.Err() != nil {
				break
			}
			p.log.Warn("projector session ended", "group", l.group, "err", err)
			sleep(ctx, time.Second)
		}
	}
	return nil
}

// Setup moves every claimed partition to the projection's checkpoint and starts the session's
// applier (apply).
func (l *lane) Setup(sess sarama.ConsumerGroupSession) error {
	p := l.p
	var cps map[string]map[int32]int64
	err := retry(sess.Context(), p.log, "load checkpoints", func() error {
		var err error
		cps, err = p.h.Checkpoints(sess.Context())
		return err
	})
	if err != nil {
		return err
	}
	for topic, parts := range sess.Claims() {
		for _, part := range parts {
			next, ok := cps[topic][part]
			if !ok {
				next = sarama.OffsetOldest
			}
			// Sarama's ResetOffset only moves back and MarkOffset only forward from the group's
			// committed offset (none: the projector never commits), so one of the two seeks.
			// With ResetOffset alone a restarted projector read every partition from the start.
			sess.MarkOffset(topic, part, next, "")
			sess.ResetOffset(topic, part, next, "")
		}
	}
	l.claimed = make(chan *claimBatch)
	go l.apply(sess.Context(), l.claimed)
	return nil
}

// Cleanup has nothing to release: the session's applier ends with the session's context.
func (l *lane) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// claimBatch is what one claim has read and hands to the session's applier: its records, in
// offset order, and where the applier says how their batch went.
type claimBatch struct {
	recs []Record
	done chan error
}

// ConsumeClaim reads what is ready on the claim's partition and hands it to the session's
// applier, waiting for it to be applied before reading more, until the session ends.
func (l *lane) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	p, ctx := l.p, sess.Context()
	in := l.claimed
	// The batch's buffer grows as records come and is kept for the next batch. A projector
	// claims every partition of its topics (up to 72 in the all-in-one process's read model),
	// most of them quiet; made at MaxProjectorBatch records each, they held 21 MB, 40% of the
	// all-in-one process's live heap, for the collector to scan (docs/benchmarks.md).
	cb := &claimBatch{done: make(chan error, 1)}
	if start := claim.InitialOffset(); start >= 0 {
		p.met.ProjectorLag(l.group, claim.Topic(), claim.Partition(), claim.HighWaterMarkOffset()-start)
	}
	for {
		batch := cb.recs[:0]
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			batch = append(batch, recordOf(m))
		case <-ctx.Done():
			return nil
		}
	drain:
		for len(batch) < MaxProjectorBatch {
			select {
			case m, ok := <-claim.Messages():
				if !ok {
					break drain
				}
				batch = append(batch, recordOf(m))
			default:
				break drain
			}
		}
		cb.recs = batch
		select {
		case in <- cb:
		case <-ctx.Done():
			return nil
		}
		select {
		case err := <-cb.done:
			if err != nil {
				return nil //nolint:nilerr // project fails only when the session ends: the claim is over, not failed
			}
		case <-ctx.Done():
			return nil
		}
		// The claim's high-water mark is the partition's end as of the last fetch response.
		p.met.ProjectorLag(l.group, claim.Topic(), claim.Partition(), claim.HighWaterMarkOffset()-(batch[len(batch)-1].Offset+1))
	}
}

// apply is a session's applier: it projects what the claims hand it, the batches of every claim
// that are waiting merged into one (up to MaxProjectorBatch records), so that a fetch answer
// covering many partitions costs the projection one batch (one Postgres transaction, one push
// stream entry) rather than one per partition. Each claim waits for its records before reading
// more, so a partition's records still come to the projection in offset order, and a merged
// batch holds each partition's records in that order. With the broker gathering the read model's
// fetches for 20 ms (ops.Projections), at 1,000 msg/s over 10 rooms, Postgres
// went from 385–398 to 135–154 µs of CPU per message (docs/benchmarks.md).
func (l *lane) apply(ctx context.Context, in <-chan *claimBatch) {
	p := l.p
	var (
		waiting  []*claimBatch
		carry    *claimBatch // taken from in but kept for the next batch, which it would overfill
		merged   = make([]Record, 0, MaxProjectorBatch)
		occurred = make([]time.Time, 0, MaxProjectorBatch)
	)
	for {
		waiting = waiting[:0]
		if carry != nil {
			waiting, carry = append(waiting, carry), nil
		} else {
			select {
			case cb := <-in:
				waiting = append(waiting, cb)
			case <-ctx.Done():
				return
			}
		}
		n := len(waiting[0].recs)
	more:
		for n < MaxProjectorBatch {
			select {
			case cb := <-in:
				if n+len(cb.recs) > MaxProjectorBatch {
					carry = cb
					break more
				}
				waiting = append(waiting, cb)
				n += len(cb.recs)
			default:
				break more
			}
		}
		merged = merged[:0]
		for _, cb := range waiting {
			merged = append(merged, cb.recs...)
		}
		started := time.Now()
		occurred = occurred[:0]
		for _, r := range merged {
			occurred = append(occurred, r.Timestamp) // the event's occurred_at (command_processor.go)
		}
		p.met.EventAges(l.group, "fetched", occurred, started)
		err := p.project(ctx, merged)
		if err == nil {
			done := time.Now()
			p.met.EventAges(l.group, "applied", occurred, done)
			p.met.Projected(l.group, len(merged), done.Sub(started))
		}
		for _, cb := range waiting {
			cb.done <- err
		}
		if err != nil {
			return
		}
	}
}

// project handles a batch; it fails only when ctx ends. A batch is all or nothing for the
// projection, so when it keeps failing its records are handled one at a time to find the
// ones that fail, which are dead-lettered; the others are projected.
func (p *Projector) project(ctx context.Context, batch []Record) error {
	skipper, canSkip := p.h.(RecordSkipper)
	if !canSkip {
		return retry(ctx, p.log, "handle batch", func() error { return p.handle(ctx, batch) })
	}
	err := p.attempt(ctx, "handle batch", func() error { return p.handle(ctx, batch) })
	if err == nil || ctx.Err() != nil {
		return ctx.Err()
	}
	for i, rec := range batch {
		if len(batch) > 1 {
			if i == 0 {
				p.log.Warn("batch keeps failing; handling its records one by one", "records", len(batch), "err", err)
			}
			err = p.attempt(ctx, "handle record", func() error { return p.handle(ctx, []Record{rec}) })
			if err == nil {
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		cause := err
		if err := retry(ctx, p.log, "dead-letter record", func() error { return p.deadLetter(ctx, skipper, rec, cause) }); err != nil {
			return err
		}
	}
	// Whatever failed is dead-lettered: the projection is moving again.
	p.recovered(ctx)
	return nil
}

// attempt calls fn up to p.attempts times, backing off from 50 ms; failures marked Unavailable
// are retried without end (backing off up to 5 s) and do not count. It returns the last error.
func (p *Projector) attempt(ctx context.Context, what string, fn func() error) error {
	backoff := 50 * time.Millisecond
	for failed := 0; ; {
		err := fn()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !IsUnavailable(err) {
			if failed++; failed >= p.attempts {
				return err
			}
		}
		p.log.Error(what+" failed; retrying", "err", err, "backoff", backoff, "failures", failed, "attempts", p.attempts)
		sleep(ctx, backoff)
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

// deadLetter appends rec to the dead-letter topic, then has the projection skip it. A crash in
// between dead-letters it again on restart (at least once); the projection's count is kept
// per record, so it counts it once.
func (p *Projector) deadLetter(ctx context.Context, s RecordSkipper, rec Record, cause error) error {
	producer, err := p.deadLetterProducer()
	if err != nil {
		return err
	}
	msg := cause.Error()
	if len(msg) > maxErrorHeader {
		msg = msg[:maxErrorHeader] + "…"
	}
	header := func(k, v string) sarama.RecordHeader { return sarama.RecordHeader{Key: []byte(k), Value: []byte(v)} }
	_, _, err = producer.SendMessage(&sarama.ProducerMessage{
		Topic: p.cfg.Topics.DeadLetters,
		Key:   sarama.ByteEncoder(rec.Key),
		Value: sarama.ByteEncoder(rec.Value),
		Headers: []sarama.RecordHeader{
			header(HeaderDeadLetterProjection, p.projection),
			header(HeaderDeadLetterGroup, p.group),
			header(HeaderDeadLetterTopic, rec.Topic),
			header(HeaderDeadLetterPartition, strconv.FormatInt(int64(rec.Partition), 10)),
			header(HeaderDeadLetterOffset, strconv.FormatInt(rec.Offset, 10)),
			header(HeaderDeadLetterError, msg),
			header(HeaderDeadLetterAt, time.Now().UTC().Format(time.RFC3339Nano)),
		},
	})
	if err != nil {
		p.met.KafkaError("projector", "producer")
		return fmt.Errorf("append dead letter to %s: %w", p.cfg.Topics.DeadLetters, err)
	}
	if err := s.Skip(ctx, rec, cause); err != nil {
		return fmt.Errorf("skip dead-lettered record: %w", err)
	}
	n := p.dead.Add(1)
	p.met.DeadLettered(p.projection)
	// An event in the log was accepted by its aggregate, so a projection that cannot store it is
	// a bug (the rule is: accepted => projected): logged as one, to be alarmed on.
	p.log.Error("BUG: an accepted record could not be projected; dead-lettered, the projection moved past it",
		"bug", true,
		"projection", p.projection, "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset,
		"err", cause, "dead_letter_topic", p.cfg.Topics.DeadLetters, "dead_lettered", n)
	return nil
}

func (p *Projector) deadLetterProducer() (sarama.SyncProducer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.producer != nil {
		return p.producer, nil
	}
	if p.cfg.Topics.DeadLetters == "" {
		return nil, errors.New("no dead-letter topic configured")
	}
	producer, err := sarama.NewSyncProducer(p.cfg.Brokers, p.cfg.Sarama())
	if err != nil {
		return nil, fmt.Errorf("dead-letter producer: %w", err)
	}
	p.producer = producer
	return producer, nil
}

func (p *Projector) closeProducer() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.producer != nil {
		_ = p.producer.Close()
		p.producer = nil
	}
}

func recordOf(m *sarama.ConsumerMessage) Record {
	return Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Timestamp}
}

// retry calls fn until it succeeds or ctx ends, backing off from 50 ms to 5 s.
func retry(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	backoff := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Error(what+" failed; retrying", "err", err, "backoff", backoff)
		sleep(ctx, backoff)
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}
