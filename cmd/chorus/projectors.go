package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/projtx"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// Projections that nobody waits on within milliseconds (search, notifications) fetch in larger
// batches: see kafka.Projector.Gathering.
const (
	gatherBytes = 64 << 10
	gatherWait  = 200 * time.Millisecond
)

func decodeRecords(recs []kafka.Record) ([]readmodel.Record, error) {
	out := make([]readmodel.Record, len(recs))
	for i, r := range recs {
		ev, err := kafka.DecodeEvent(r.Value)
		if err != nil {
			return nil, fmt.Errorf("event at %s/%d/%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		out[i] = readmodel.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Event: ev}
	}
	return out, nil
}

// readModelHandler projects events into the Postgres read model, checkpoint in the same
// transaction. A record it cannot project is dead-lettered by the runner and skipped (Skip).
type readModelHandler struct {
	store *readmodel.Store
	dead  deadLetterLog
}

func (h *readModelHandler) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return h.store.Checkpoints(ctx, readmodel.Projection)
}

func (h *readModelHandler) Handle(ctx context.Context, recs []kafka.Record) error {
	rs, err := decodeRecords(recs)
	if err != nil {
		return err
	}
	return storeError(h.store.ApplyBatch(ctx, readmodel.Projection, rs))
}

// Skip moves the read model past a dead-lettered record.
func (h *readModelHandler) Skip(ctx context.Context, rec kafka.Record, cause error) error {
	return h.dead.skip(ctx, readmodel.Projection, rec, cause)
}

// pushHandler turns room events into pushes on the Redis stream, then checkpoints. A crash in
// between re-sends a few pushes (at least once); clients tell them apart by seq.
type pushHandler struct {
	store *readmodel.Store
	pub   *redis.PushPublisher
	dead  deadLetterLog
}

func (h *pushHandler) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return h.store.Checkpoints(ctx, ops.Push.Name)
}

func (h *pushHandler) Handle(ctx context.Context, recs []kafka.Record) error {
	rs, err := decodeRecords(recs)
	if err != nil {
		return err
	}
	var pushes []projections.Push
	for _, r := range rs {
		// Stripped of NUL as the Postgres projections store it, so that a push and the history
		// agree.
		ps, err := projections.PushesOf(projtx.Storable(r.Event))
		if err != nil {
			return err
		}
		// The gateways wait for the read model to reach a membership change's position
		// before they read a new socket's rooms (adapters/gateway/membership.go).
		pos := domain.Position{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}.String()
		for i := range ps {
			ps[i].Position = pos
		}
		pushes = append(pushes, ps...)
	}
	if err := h.pub.Publish(pushes); err != nil {
		return kafka.Unavailable(fmt.Errorf("publish pushes: %w", err))
	}
	return kafka.Unavailable(h.store.SaveCheckpoints(ctx, ops.Push.Name, rs))
}

// Skip moves the push projection past a dead-lettered record.
func (h *pushHandler) Skip(ctx context.Context, rec kafka.Record, cause error) error {
	return h.dead.skip(ctx, ops.Push.Name, rec, cause)
}

// storeError marks a failure of the read model's database as kafka.Unavailable (retried
// without end, never dead-lettered), unless it is Postgres refusing a statement for what the
// records hold: a data exception (22), an integrity violation (23) or a statement the data
// made invalid (42). Anything else, a lost connection or a failover included, is not the
// records' fault.
func storeError(err error) error {
	if err == nil {
		return nil
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) && len(pg.Code) == 5 {
		switch pg.Code[:2] {
		case "22", "23", "42":
			return err
		}
	}
	return kafka.Unavailable(err)
}

// deadLetterLog counts, in projection_dead_letters, the records the projectors dead-lettered
// (one row per projection and record, whatever the retries), and moves the projection's
// checkpoint past each. The row goes first: a crash in between replays the record, which is
// dead-lettered again without being counted twice.
type deadLetterLog struct {
	pool  *pgxpool.Pool
	store *readmodel.Store
}

func (d deadLetterLog) skip(ctx context.Context, projection string, rec kafka.Record, cause error) error {
	_, err := d.pool.Exec(ctx, `INSERT INTO projection_dead_letters
			(projection, source_topic, source_partition, source_offset, error)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (projection, source_topic, source_partition, source_offset) DO NOTHING`,
		projection, rec.Topic, rec.Partition, rec.Offset, cause.Error())
	if err != nil {
		return fmt.Errorf("count dead letter of %s: %w", projection, err)
	}
	return d.store.SaveCheckpoints(ctx, projection, []readmodel.Record{{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset}})
}

// failureLog keeps, in projection_failures, one row per projection and process while that
// process's projector keeps failing (kafka.FailureLog): projections status shows it as failed.
type failureLog struct {
	pool     *pgxpool.Pool
	instance string
}

func (f failureLog) Failing(ctx context.Context, projection string, failures int64, cause error) error {
	_, err := f.pool.Exec(ctx, `INSERT INTO projection_failures (projection, instance, error, failures, since, last_failed_at)
		VALUES ($1, $2, $3, $4, now(), now())
		ON CONFLICT (projection, instance) DO UPDATE
		SET error = EXCLUDED.error, failures = EXCLUDED.failures, last_failed_at = now()`,
		projection, f.instance, cause.Error(), failures)
	return err
}

func (f failureLog) Recovered(ctx context.Context, projection string) error {
	_, err := f.pool.Exec(ctx, `DELETE FROM projection_failures WHERE projection = $1 AND instance = $2`, projection, f.instance)
	return err
}
