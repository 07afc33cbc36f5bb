package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Log appends records to the notification-events topic, keyed by user id, and returns once
// the broker has them.
type Log interface {
	Append(ctx context.Context, recs []Created) error
}

// Pusher appends pushes to the push stream every gateway reads.
type Pusher interface {
	Publish(pushes []projections.Push) error
}

// relayBatch is how many notifications one relay transaction announces.
const relayBatch = 500

// relayPoll is how often the relay looks for work nobody signalled: notifications another
// process committed and did not get to announce before it died.
const relayPoll = time.Second

// Relay announces committed notifications: for each one in the outbox, a NotificationCreated
// record on notification-events and a `notification` push to its user's sockets, then it
// drops it from the outbox. Announcing is at least once: a crash between sending and dropping
// sends again, with the same notification id. Several relays (one per projector process) may
// run: each takes outbox rows the others have not locked.
type Relay struct {
	store  *Store
	log    Log
	pushes Pusher
	logger *slog.Logger
}

// NewRelay makes a relay for the notifications store commits.
func NewRelay(store *Store, log Log, pushes Pusher, logger *slog.Logger) *Relay {
	return &Relay{store: store, log: log, pushes: pushes, logger: logger.With("component", "notification-relay")}
}

// Run announces until ctx ends: after every batch the store commits with new notifications,
// and every second for whatever is left (a failed attempt, another process's leftovers).
func (r *Relay) Run(ctx context.Context) error { return r.loop().Run(ctx) }

// Flush announces everything in the outbox and returns how many notifications it announced.
func (r *Relay) Flush(ctx context.Context) (int, error) { return r.loop().Flush(ctx) }

func (r *Relay) loop() checkpoint.OutboxLoop {
	return checkpoint.OutboxLoop{Committed: r.store.Committed(), Poll: relayPoll, FlushOnce: r.flushOnce,
		Failed: func(err error) { r.logger.Error("announce notifications failed; retrying", "err", err) }}
}

// flushOnce announces up to relayBatch notifications in outbox order in one transaction that
// holds their outbox rows locked until they are dropped.
func (r *Relay) flushOnce(ctx context.Context) (int, bool, error) {
	tx, err := r.store.pool.Begin(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("relay: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit

	rows, err := tx.Query(ctx, `SELECT o.seq, n.id IS NOT NULL, n.source_event_id, `+notificationColumns+`
		FROM notification_outbox o LEFT JOIN notifications n ON n.id = o.notification_id
		ORDER BY o.seq LIMIT $1 FOR UPDATE OF o SKIP LOCKED`, relayBatch)
	if err != nil {
		return 0, false, fmt.Errorf("relay: read outbox: %w", err)
	}
	var (
		seqs    []int64
		created []Created
	)
	for rows.Next() {
		var (
			seq    int64
			exists bool
			source *uuid.UUID
			n      nullableNotification
		)
		if err := rows.Scan(append([]any{&seq, &exists, &source}, n.dest()...)...); err != nil {
			rows.Close()
			return 0, false, fmt.Errorf("relay: read outbox: %w", err)
		}
		seqs = append(seqs, seq)
		if !exists { // the notification went away (a rebuild truncated it): nothing to announce
			continue
		}
		v := n.value()
		created = append(created, Created{
			ID: v.ID, Type: RecordNotificationCreated, UserID: v.UserID, SourceEventID: *source, OccurredAt: v.CreatedAt, Notification: v,
		})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, false, fmt.Errorf("relay: read outbox: %w", err)
	}
	if len(seqs) == 0 {
		return 0, false, nil
	}
	if len(created) > 0 {
		if err := r.log.Append(ctx, created); err != nil {
			return 0, false, fmt.Errorf("relay: append to notification-events: %w", err)
		}
		pushes, err := pushesOf(created)
		if err != nil {
			return 0, false, err
		}
		if err := r.pushes.Publish(pushes); err != nil {
			return 0, false, fmt.Errorf("relay: publish pushes: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM notification_outbox WHERE seq = ANY($1)`, seqs); err != nil {
		return 0, false, fmt.Errorf("relay: drop from outbox: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, false, fmt.Errorf("relay: commit: %w", err)
	}
	return len(created), len(seqs) == relayBatch, nil
}

// nullableNotification scans a notification of an outer join.
type nullableNotification struct {
	id, user                   *uuid.UUID
	message, typ               *string
	createdAt                  *time.Time
	read                       bool
	roomID, messageID, actorID *uuid.UUID
}

func (n *nullableNotification) dest() []any {
	return []any{&n.id, &n.user, &n.message, &n.typ, &n.createdAt, &n.read, &n.roomID, &n.messageID, &n.actorID}
}

func (n *nullableNotification) value() Notification {
	return Notification{
		ID: *n.id, UserID: *n.user, Message: *n.message, NotificationType: *n.typ, CreatedAt: n.createdAt.UTC(),
		Read: n.read, RoomID: n.roomID, MessageID: n.messageID, ActorID: n.actorID,
	}
}

// pushesOf makes the `notification` push of each notification, for its user's sockets.
func pushesOf(created []Created) ([]projections.Push, error) {
	out := make([]projections.Push, len(created))
	for i, c := range created {
		frame, err := json.Marshal(Frame{Type: PushNotification, Notification: c.Notification})
		if err != nil {
			return nil, fmt.Errorf("relay: encode frame: %w", err)
		}
		out[i] = projections.Push{Target: projections.TargetUser, UserID: c.UserID, Kind: PushNotification, Frame: frame}
	}
	return out, nil
}
