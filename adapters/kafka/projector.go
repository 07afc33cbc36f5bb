package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
)

// MaxProjectorBatch bounds how many records a projector handles in one call (one Postgres
// transaction for the read model).
const MaxProjectorBatch = 1000

// ProjectionHandler is one projection: it keeps its own checkpoints (next offset per topic and
// partition, stored with its effects) and handles batches of records in offset order per partition.
type ProjectionHandler interface {
	Checkpoints(ctx context.Context) (map[string]map[int32]int64, error)
	Handle(ctx context.Context, recs []Record) error
}

// Projector runs a projection as its own consumer group: the group spreads partitions over the
// projector processes, the projection's own checkpoints (not Kafka's group offsets) say where
// each partition resumes.
type Projector struct {
	cfg    Config
	group  string
	topics []string
	h      ProjectionHandler
	log    *slog.Logger
}

// NewProjector makes a projector for a group reading topics.
func NewProjector(cfg Config, group string, topics []string, h ProjectionHandler, log *slog.Logger) *Projector {
	return &Projector{cfg: cfg, group: group, topics: topics, h: h, log: log.With("projector", group)}
}

// Run consumes until ctx ends.
func (p *Projector) Run(ctx context.Context) error {
	sc := p.cfg.Sarama()
	sc.ChannelBufferSize = MaxProjectorBatch
	group, err := sarama.NewConsumerGroup(p.cfg.Brokers, p.group, sc)
	if err != nil {
		return fmt.Errorf("projector group %s: %w", p.group, err)
	}
	defer group.Close()
	go func() {
		for err := range group.Errors() {
			p.log.Warn("projector group", "err", err)
		}
	}()
	for ctx.Err() == nil {
		if err := group.Consume(ctx, p.topics, p); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) || ctx.Err() != nil {
				break
			}
			p.log.Warn("projector session ended", "err", err)
			sleep(ctx, time.Second)
		}
	}
	return nil
}

// Setup moves every claimed partition to the projection's checkpoint.
func (p *Projector) Setup(sess sarama.ConsumerGroupSession) error {
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
			sess.ResetOffset(topic, part, next, "")
		}
	}
	return nil
}

// Cleanup has nothing to release.
func (p *Projector) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim hands batches of what is ready to the projection, retrying a failed batch until it
// succeeds or the session ends (the batch is not lost: nothing moves on without it).
func (p *Projector) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := sess.Context()
	batch := make([]Record, 0, MaxProjectorBatch)
	for {
		batch = batch[:0]
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
		if err := retry(ctx, p.log, "handle batch", func() error { return p.h.Handle(ctx, batch) }); err != nil {
			return nil // session over
		}
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
