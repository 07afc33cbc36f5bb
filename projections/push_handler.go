package projections

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/projtx"
)

// PushProjection is the checkpoint name of the push projection: room events turned into pushes
// on the stream every gateway reads.
const PushProjection = "push"

// PushDefinition is the push projection's row in the table of projections. Its effects are not
// tables (they are on the push stream), so it cannot be rebuilt.
var PushDefinition = checkpoint.Definition{Name: PushProjection}

// PushPublisher appends pushes to the push stream every gateway reads.
type PushPublisher interface {
	Publish(pushes []Push) error
}

// PushHandler turns room events into pushes on the push stream, then checkpoints. A crash in
// between re-sends a few pushes (at least once); clients tell them apart by seq.
//
// The checkpoints are written at most every PushCheckpointEvery rather than after every batch:
// a Postgres write per batch was a third of the push projection's time at 1,000 messages/s,
// and pushes are at least once anyway (docs/protocol.md). A crash re-sends at most the pushes
// of the interval, which clients tell apart by message id and seq like any other repeat.
type PushHandler struct {
	pool *pgxpool.Pool
	pub  PushPublisher
	dead checkpoint.DeadLetters

	mu      sync.Mutex // Handle runs for several partitions at once
	every   time.Duration
	written time.Time                      // when the checkpoints were last written
	unsaved map[checkpoint.Partition]int64 // positions reached since then
	timer   *time.Timer                    // writes them if no batch does first
}

// PushCheckpointEvery is how often the push projection writes its checkpoints.
const PushCheckpointEvery = 100 * time.Millisecond

// NewPushHandler publishes to pub and keeps its checkpoints and dead letters in pool.
func NewPushHandler(pool *pgxpool.Pool, pub PushPublisher, dead checkpoint.DeadLetters) *PushHandler {
	return &PushHandler{pool: pool, pub: pub, dead: dead, every: PushCheckpointEvery, unsaved: map[checkpoint.Partition]int64{}}
}

// CheckpointEvery changes how often the checkpoints are written (0: after every batch).
func (h *PushHandler) CheckpointEvery(d time.Duration) *PushHandler {
	h.every = d
	return h
}

// Checkpoints are the push projection's.
func (h *PushHandler) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return checkpoint.Load(ctx, h.pool, PushProjection)
}

// Handle publishes the pushes of a batch, then moves the checkpoints past it.
//
// An organization's broadcast goes to its members, which no event of the broadcast names: the
// projection keeps them (push_org_members, from org-events, each change written as its record
// is reached, so a broadcast sees the members of the events before it). Those writes are
// idempotent and redone in order after a crash; the only slack is at-least-once's: a broadcast
// pushed again after a crash goes to the members as they stand at the crash.
func (h *PushHandler) Handle(ctx context.Context, recs []checkpoint.Record) error {
	var pushes []Push
	for _, r := range recs {
		// Stripped of NUL as the Postgres projections store it, so that a push and the history
		// agree.
		ps, err := h.pushesOf(ctx, projtx.Storable(r.Event))
		if err != nil {
			return err
		}
		// The gateways wait for the read model to reach a membership change's position
		// before they read a new socket's rooms (adapters/gateway/membership.go).
		pos := domain.Position{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}.String()
		for i := range ps {
			ps[i].Position, ps[i].OccurredAt = pos, r.Event.OccurredAt
		}
		pushes = append(pushes, ps...)
	}
	if err := h.pub.Publish(pushes); err != nil {
		return checkpoint.Unavailable(fmt.Errorf("publish pushes: %w", err))
	}
	return checkpoint.Unavailable(h.advance(ctx, recs))
}

// advance notes the positions after recs and writes every noted position once the interval has
// passed. A failed write keeps them noted for the next batch.
func (h *PushHandler) advance(ctx context.Context, recs []checkpoint.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range recs {
		p := checkpoint.PartitionOf(r)
		h.unsaved[p] = max(h.unsaved[p], r.Offset+1)
	}
	if wait := h.every - time.Since(h.written); wait > 0 {
		// Written later, by the next batch or, if none comes, by the timer: an idle projection
		// still shows its true position (status, verify) within the interval.
		if h.timer == nil {
			h.timer = time.AfterFunc(wait, h.flushLater)
		}
		return nil
	}
	return h.flushLocked(ctx)
}

func (h *PushHandler) flushLocked(ctx context.Context) error {
	if len(h.unsaved) == 0 {
		return nil
	}
	if err := checkpoint.Raise(ctx, h.pool, PushProjection, h.unsaved); err != nil {
		return err
	}
	clear(h.unsaved)
	h.written = time.Now()
	return nil
}

// flushLater writes the noted positions when no batch came to write them; a failure is left for
// the next batch (a crash meanwhile re-sends those pushes: at least once).
func (h *PushHandler) flushLater() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.timer = nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.flushLocked(ctx)
}

// Skip moves the push projection past a dead-lettered record.
func (h *PushHandler) Skip(ctx context.Context, rec checkpoint.Record, cause error) error {
	return h.dead.Skip(ctx, PushProjection, rec, cause)
}

// pushesOf are the pushes of e; the organization's members are kept and read here.
func (h *PushHandler) pushesOf(ctx context.Context, e domain.Event) ([]Push, error) {
	switch d := e.Data.(type) {
	case domain.OrgMemberJoined:
		_, err := h.pool.Exec(ctx, `INSERT INTO push_org_members (org_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, d.OrgID, d.UserID)
		return nil, checkpoint.StoreError(err)
	case domain.OrgMemberRemoved:
		_, err := h.pool.Exec(ctx, `DELETE FROM push_org_members WHERE org_id = $1 AND user_id = $2`, d.OrgID, d.UserID)
		return nil, checkpoint.StoreError(err)
	case domain.OrgBroadcastSent:
		rows, err := h.pool.Query(ctx, `SELECT user_id FROM push_org_members WHERE org_id = $1 ORDER BY user_id`, d.OrgID)
		if err != nil {
			return nil, checkpoint.StoreError(err)
		}
		members, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return nil, checkpoint.StoreError(err)
		}
		return OrgBroadcastPushes(e, d, members)
	}
	return PushesOf(e)
}
