package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Store is the notification projection in Postgres: ApplyBatch writes it, List and MarkRead
// serve users, WaitFor lets a reader wait for a log position, and the Relay announces what
// ApplyBatch committed.
type Store struct {
	pool *pgxpool.Pool
	// committed wakes the relay after a batch that queued notifications was committed.
	committed          chan struct{}
	*checkpoint.Waiter // the projection's progress, for ?position= (WaitFor)
}

// NewStore returns a Store over pool, whose database must be migrated (postgres.Open does so),
// for a projection that reads topics (a position on any other topic is reached at once: nothing
// there ever shows here).
func NewStore(pool *pgxpool.Pool, topics ...string) *Store {
	s := &Store{pool: pool, committed: make(chan struct{}, 1)}
	s.Waiter = checkpoint.NewWaiter(s.Checkpoints, ErrNotCaughtUp, topics...)
	return s
}

// Committed is signalled after a batch that may have queued notifications was committed.
func (s *Store) Committed() <-chan struct{} { return s.committed }

// ApplyBatch applies recs and advances the projection's checkpoints past them, in one
// transaction. Records below the stored checkpoint of their partition are skipped, so a batch
// redelivered after a crash has no effect twice; the notification ids are a function of source
// event and recipient, so even a rebuild over surviving rows adds nothing twice. Records of one
// partition must come in offset order. All statements go in one pipelined round trip.
func (s *Store) ApplyBatch(ctx context.Context, recs []Record) error {
	notifies := false
	applied, err := s.applyBatch(ctx, "", Projection, recs, func(_ context.Context, _ pgx.Tx, st *checkpoint.Statements) error {
		notifies = st.Batch.Len() > 0
		return nil
	})
	if err != nil {
		return err
	}
	if applied == nil {
		return nil
	}
	s.AdvanceAll(applied)
	if notifies {
		select {
		case s.committed <- struct{}{}:
		default:
		}
	}
	return nil
}

// ApplyBatchIn is ApplyBatch into the notification tables of another Postgres schema (a new
// generation being rebuilt beside the live one), under the generation's own checkpoint name
// (see checkpoint.Apply). The schema must have its own notification_outbox: what a rebuild
// finds was announced when the live projection first made it, and must not be again.
func (s *Store) ApplyBatchIn(ctx context.Context, schema, projection string, recs []Record) error {
	if schema == "" {
		return fmt.Errorf("notifications: apply batch: no schema given")
	}
	_, err := s.applyBatch(ctx, schema, projection, recs, nil)
	return err
}

func (s *Store) applyBatch(ctx context.Context, schema, projection string, recs []Record, finish func(context.Context, pgx.Tx, *checkpoint.Statements) error) (map[partition]int64, error) {
	applied, err := checkpoint.Apply(ctx, s.pool, schema, projection, recs, func(st *checkpoint.Statements, r Record) {
		st.Describe(r, queueEvent(&st.Batch, r.Event))
	}, finish)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	return applied, nil
}

// Checkpoints returns the projection's next offsets: topic → partition → offset of the first
// record not yet applied.
func (s *Store) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return checkpoint.Load(ctx, s.pool, Projection)
}

// ListQuery selects a page of a user's notifications, newest first.
type ListQuery struct {
	// UnreadOnly leaves out the ones marked read.
	UnreadOnly bool
	// Before, if set, is the id of a notification of the user: the page starts after it (it is
	// the last of the previous page).
	Before *uuid.UUID
	// Limit is the page size.
	Limit int
}

const notificationColumns = `n.id, n.user_id, n.message, n.notification_type, n.created_at,
	EXISTS (SELECT 1 FROM notification_reads r WHERE r.notification_id = n.id), n.room_id, n.message_id, n.actor_id`

func scanNotification(row pgx.Row) (Notification, error) {
	var n Notification
	err := row.Scan(&n.ID, &n.UserID, &n.Message, &n.NotificationType, &n.CreatedAt, &n.Read, &n.RoomID, &n.MessageID, &n.ActorID)
	n.CreatedAt = n.CreatedAt.UTC()
	return n, err
}

// List returns a page of user's notifications, newest first, and whether older ones follow.
// A Before that names no notification of the user is ErrNotFound.
func (s *Store) List(ctx context.Context, user uuid.UUID, q ListQuery) ([]Notification, bool, error) {
	if q.Before != nil {
		var exists bool
		err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM notifications WHERE id = $1 AND user_id = $2)`, *q.Before, user).Scan(&exists)
		if err != nil {
			return nil, false, fmt.Errorf("list notifications: %w", err)
		}
		if !exists {
			return nil, false, ErrNotFound
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT `+notificationColumns+`
		FROM notifications n
		WHERE n.user_id = $1
		  AND (NOT $2::bool OR NOT EXISTS (SELECT 1 FROM notification_reads r WHERE r.notification_id = n.id))
		  AND ($3::uuid IS NULL OR (n.created_at, n.id) < (SELECT b.created_at, b.id FROM notifications b WHERE b.id = $3))
		ORDER BY n.created_at DESC, n.id DESC
		LIMIT $4`, user, q.UnreadOnly, q.Before, q.Limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("list notifications: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notification, error) { return scanNotification(r) })
	if err != nil {
		return nil, false, fmt.Errorf("list notifications: %w", err)
	}
	more := len(out) > q.Limit
	if more {
		out = out[:q.Limit]
	}
	return out, more, nil
}

// MarkRead marks one of user's notifications read (again: marking twice is harmless) and
// returns it. Another user's notification, or an unknown id, is ErrNotFound.
func (s *Store) MarkRead(ctx context.Context, user, id uuid.UUID) (Notification, error) {
	_, err := s.pool.Exec(ctx, `INSERT INTO notification_reads (notification_id, user_id)
		SELECT id, user_id FROM notifications WHERE id = $1 AND user_id = $2
		ON CONFLICT (notification_id) DO NOTHING`, id, user)
	if err != nil {
		return Notification{}, fmt.Errorf("mark notification read: %w", err)
	}
	n, err := scanNotification(s.pool.QueryRow(ctx, `SELECT `+notificationColumns+`
		FROM notifications n WHERE n.id = $1 AND n.user_id = $2`, id, user))
	if errors.Is(err, pgx.ErrNoRows) {
		return Notification{}, ErrNotFound
	}
	if err != nil {
		return Notification{}, fmt.Errorf("mark notification read: %w", err)
	}
	return n, nil
}
