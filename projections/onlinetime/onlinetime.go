// Package onlinetime is the online-time read model: the users' sessions online (user-events:
// UserCameOnline, UserWentOffline; domain/user_presence.go), the closed sessions' seconds per
// local day in every time zone an organization uses (org-events: OrganizationCreated,
// OrganizationUpdated; totals.go), and the report over them, seconds online per member and day
// of an organization, in its time zone.
package onlinetime

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/projtx"
)

// Projection is the name under which the projection stores its checkpoints.
const Projection = "onlinetime"

// Record is one event as read from the log, with where it sits there.
type Record = checkpoint.Record

// Definition is the projection's row in the table of projections.
var Definition = checkpoint.Definition{
	Name:   Projection,
	Tables: []string{"online_sessions", "online_zones", "online_daily"},
	ApplyIn: func(ctx context.Context, pool *pgxpool.Pool, schema, projection string, recs []checkpoint.Record) error {
		if schema == "" {
			return fmt.Errorf("onlinetime: apply batch: no schema given")
		}
		return NewStore(pool).apply(ctx, schema, projection, recs)
	},
}

// Store is the sessions in Postgres, and the report over them.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store over pool, whose database must be migrated.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Checkpoints returns the projection's next offsets.
func (s *Store) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return checkpoint.Load(ctx, s.pool, Projection)
}

// ApplyBatch applies recs and advances the checkpoints past them, in one transaction.
func (s *Store) ApplyBatch(ctx context.Context, recs []Record) error {
	return s.apply(ctx, "", Projection, recs)
}

func (s *Store) apply(ctx context.Context, schema, projection string, recs []Record) error {
	var ends sessionEnds
	_, err := checkpoint.Apply(ctx, s.pool, schema, projection, recs, func(st *checkpoint.Statements, r Record) {
		if d, ok := r.Event.Data.(domain.UserWentOffline); ok {
			ends.add(d)
		}
		st.Describe(r, queueEvent(&st.Batch, r.Event))
	}, func(ctx context.Context, tx pgx.Tx, _ *checkpoint.Statements) error {
		// Before the queued statements: the zones' lock, then the totals moved for the
		// sessions the batch ends, against the sessions as they were before it.
		lock := zonesLock(recs)
		if lock == "" {
			return nil
		}
		// The planner's estimates for the days a session is cut into (generate_series) are far
		// too high: without this it compiled the statements (30 ms for one that runs in 0.3 ms).
		if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, lock, zonesLockKey(schema)); err != nil {
			return fmt.Errorf("lock the zones: %w", err)
		}
		if len(ends.users) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, sqlEndDaily, ends.users, ends.since, ends.at); err != nil {
			return fmt.Errorf("add %d ended sessions to the daily totals: %w", len(ends.users), err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("onlinetime: %w", err)
	}
	return nil
}

// sessionEnds is the sessions a batch ends, each once with the end its last record gives (what
// the batch's statements leave in online_sessions), as arrays for sqlEndDaily.
type sessionEnds struct {
	index map[sessionKey]int
	users projtx.UUIDs
	since []time.Time
	at    []time.Time
}

type sessionKey struct {
	user  uuid.UUID
	since int64
}

func (e *sessionEnds) add(d domain.UserWentOffline) {
	k := sessionKey{d.UserID, d.Since.UnixMicro()}
	if i, ok := e.index[k]; ok {
		e.at[i] = d.At
		return
	}
	if e.index == nil {
		e.index = map[sessionKey]int{}
	}
	e.index[k] = len(e.users)
	e.users = append(e.users, d.UserID)
	e.since = append(e.since, d.Since)
	e.at = append(e.at, d.At)
}

// queueEvent queues what e does to the sessions (and to the zones; the totals of the sessions a
// batch ends move in one statement before these, sqlEndDaily). The session statements are keyed
// by the session's start, so a record applied twice (a rebuild over a live table, say) changes
// nothing, and an offline whose online was never seen still leaves its session.
func queueEvent(b *pgx.Batch, e domain.Event) []string {
	switch d := e.Data.(type) {
	case domain.UserCameOnline:
		b.Queue(`INSERT INTO online_sessions (user_id, started_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, d.UserID, d.At)
		return []string{"open session"}
	case domain.UserWentOffline:
		b.Queue(`INSERT INTO online_sessions (user_id, started_at, ended_at, cause) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id, started_at) DO UPDATE SET ended_at = EXCLUDED.ended_at, cause = EXCLUDED.cause`,
			d.UserID, d.Since, d.At, d.Cause)
		return []string{"end session"}
	case domain.OrganizationCreated:
		b.Queue(sqlAddZone, zoneName(d.TimeZone))
		return []string{"add time zone"}
	case domain.OrganizationUpdated:
		if d.TimeZone == nil {
			return nil
		}
		b.Queue(sqlAddZone, zoneName(*d.TimeZone))
		return []string{"add time zone"}
	}
	return nil
}

// NewHandler runs the projection in a projector: it applies into store and counts dead letters
// in dead.
func NewHandler(store *Store, dead checkpoint.DeadLetters) checkpoint.StoreHandler {
	return checkpoint.StoreHandler{Projection: Projection, Store: store, Dead: dead}
}
