// Package orgrooms is the process manager of department rooms: it follows the organizations'
// events (org-events) and keeps each department's room (DepartmentRoomCreated) with the members
// of the department's subtree, by sending the room commands (create_room with a department,
// sync_department_room, release_department_room) as the server.
//
// It runs as a projection of the table of projections: its own consumer group and checkpoint
// ("orgrooms"), its tables (the tree, members and department memberships of every
// organization, which rooms are linked) written in the transaction that advances its
// checkpoint, together with the commands the events decide, queued in an outbox. After the
// commit the Relay sends the outbox through the command log, in order, and drops what the rooms
// answered: at least once. Every command's id is a function of its source event, room and part
// (CommandID), so a command sent again after a crash is the same command, answered by the room
// with its first result; and a room takes a sync only above the highest (source version, part)
// it took, so even a replay past the rooms' memory of command ids changes nothing.
package orgrooms

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Projection is the name under which the manager stores its checkpoints.
const Projection = "orgrooms"

// Record is one event as read from the log, with where it sits there.
type Record = checkpoint.Record

// Definition is the manager's row in the table of projections.
var Definition = checkpoint.Definition{
	Name:   Projection,
	Tables: []string{"orgrooms_departments", "orgrooms_members", "orgrooms_memberships"},
	// What a rebuild decides was sent when the live manager first decided it: the generation
	// queues it in an outbox of its own, dropped with it.
	Private: []string{`CREATE TABLE IF NOT EXISTS %[1]s.orgrooms_outbox (seq bigserial PRIMARY KEY, command jsonb NOT NULL)`},
	ApplyIn: func(ctx context.Context, pool *pgxpool.Pool, schema, projection string, recs []checkpoint.Record) error {
		if schema == "" {
			return fmt.Errorf("orgrooms: apply batch: no schema given")
		}
		_, _, err := NewStore(pool).apply(ctx, schema, projection, recs)
		return err
	},
}

// Store is the manager's state in Postgres.
type Store struct {
	pool *pgxpool.Pool
	// committed wakes the relay after a batch that queued commands was committed.
	committed chan struct{}
}

// NewStore returns a Store over pool, whose database must be migrated.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, committed: make(chan struct{}, 1)}
}

// Committed is signalled after a batch that queued commands was committed.
func (s *Store) Committed() <-chan struct{} { return s.committed }

// Checkpoints returns the manager's next offsets.
func (s *Store) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return checkpoint.Load(ctx, s.pool, Projection)
}

// ApplyBatch applies recs, queues the commands they decide and advances the checkpoints past
// them, in one transaction. Records below the stored checkpoint of their partition are skipped,
// so a batch redelivered after a crash decides nothing twice. Records of one partition must come
// in offset order (an organization's events are in one partition, in their order).
func (s *Store) ApplyBatch(ctx context.Context, recs []Record) error {
	_, queued, err := s.apply(ctx, "", Projection, recs)
	if err != nil {
		return err
	}
	if queued > 0 {
		select {
		case s.committed <- struct{}{}:
		default:
		}
	}
	return nil
}

// apply runs the events in order on the transaction (each reads what the ones before wrote),
// then queues their commands and the checkpoints' advance.
func (s *Store) apply(ctx context.Context, schema, projection string, recs []Record) (map[checkpoint.Partition]int64, int, error) {
	var fresh []Record
	queued := 0
	applied, err := checkpoint.Apply(ctx, s.pool, schema, projection, recs, func(_ *checkpoint.Statements, r Record) {
		fresh = append(fresh, r)
	}, func(ctx context.Context, tx pgx.Tx, st *checkpoint.Statements) error {
		a := &applier{ctx: ctx, tx: tx}
		for _, r := range fresh {
			if err := a.apply(r.Event); err != nil {
				return fmt.Errorf("%s at %s:%d:%d: %w", r.Event.Type, r.Topic, r.Partition, r.Offset, err)
			}
		}
		if err := queueOutbox(&st.Batch, a.cmds); err != nil {
			return err
		}
		if len(a.cmds) > 0 {
			st.Note("queue room commands")
		}
		queued = len(a.cmds)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("orgrooms: %w", err)
	}
	return applied, queued, nil
}

// NewHandler runs the manager in a projector: it applies into store and counts dead letters (a
// record its tables cannot take: a bug) in dead.
func NewHandler(store *Store, dead checkpoint.DeadLetters) checkpoint.StoreHandler {
	return checkpoint.StoreHandler{Projection: Projection, Store: store, Dead: dead}
}
