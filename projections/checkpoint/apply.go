package checkpoint

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/projtx"
)

// Record is one event as a projector reads it, with where it sits in the log.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Event     domain.Event
}

// PartitionOf is the partition a record sits in.
func PartitionOf(r Record) Partition { return Partition{Topic: r.Topic, Part: r.Partition} }

// Statements is a batch of statements that say what they do, so that a failure names the
// statement and the record behind it.
type Statements struct {
	Batch pgx.Batch
	what  []string
}

// Describe records what the statements just queued for r do (one description per statement).
func (s *Statements) Describe(r Record, descs []string) {
	for _, d := range descs {
		s.what = append(s.what, fmt.Sprintf("%s (%s at %s:%d:%d)", d, r.Event.Type, r.Topic, r.Partition, r.Offset))
	}
}

// Note records what one statement just queued, not for any one record, does.
func (s *Statements) Note(desc string) { s.what = append(s.what, desc) }

// Fresh calls apply for every record at or past its partition's next offset in next (as Lock
// returned it; it is advanced as records pass) and returns the next offsets the batch reaches:
// nil when every record was applied before.
func Fresh(recs []Record, next map[Partition]int64, apply func(Record)) map[Partition]int64 {
	var applied map[Partition]int64
	for _, r := range recs {
		p := PartitionOf(r)
		if r.Offset < next[p] {
			continue
		}
		next[p] = r.Offset + 1
		if applied == nil {
			applied = make(map[Partition]int64)
		}
		applied[p] = r.Offset + 1
		apply(r)
	}
	return applied
}

// Commit queues the advance of projection's checkpoints to applied, sends every statement in one
// round trip and commits tx: the projection's effects and its checkpoint land together.
func Commit(ctx context.Context, tx pgx.Tx, st *Statements, projection string, applied map[Partition]int64) error {
	for p, off := range applied {
		st.Batch.Queue(`UPDATE projection_checkpoints SET next_offset = GREATEST(next_offset, $4), updated_at = now()
			WHERE projection = $1 AND topic = $2 AND partition = $3`, projection, p.Topic, p.Part, off)
		st.Note("advance checkpoint")
	}
	br := tx.SendBatch(ctx, &st.Batch)
	for i := range st.Batch.Len() {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("%s: %w", st.what[i], err)
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Apply applies recs and advances projection's checkpoints past them in one projector
// transaction (projtx.Begin): it locks the checkpoints (Lock), calls queue for every record not
// applied before (Fresh), then finish (if not nil) once, and commits everything in one round
// trip (Commit). Each record's event is first made storable (projtx.Storable). finish may
// also write on tx itself (say, a COPY), before the queued statements
// run. It returns the next offsets reached: nil when every record was applied before (nothing is
// written then).
//
// With schema set, the statements run with search_path = schema, public: a projection's tables
// resolve to that schema's (a new generation being rebuilt beside the live one), the tables only
// public has (projection_checkpoints, and whatever a projection reads but does not own) to the
// shared ones. projection is then the generation's own checkpoint name.
func Apply(ctx context.Context, pool *pgxpool.Pool, schema, projection string, recs []Record,
	queue func(*Statements, Record), finish func(context.Context, pgx.Tx, *Statements) error) (map[Partition]int64, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	tx, err := projtx.Begin(ctx, pool)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if schema != "" {
		// SET takes no parameters; the identifier is quoted instead.
		if _, err := tx.Exec(ctx, "SET LOCAL search_path = "+pgx.Identifier{schema}.Sanitize()+", public"); err != nil {
			return nil, fmt.Errorf("search_path %s: %w", schema, err)
		}
	}
	next, err := Lock(ctx, tx, projection, recs, PartitionOf)
	if err != nil {
		return nil, err
	}
	var st Statements
	applied := Fresh(recs, next, func(r Record) {
		// Whatever the log holds must be storable: a NUL in an old event is stripped here, for
		// every Postgres projection alike, rather than failing the batch for ever.
		r.Event = projtx.Storable(r.Event)
		queue(&st, r)
	})
	if applied == nil {
		return nil, nil
	}
	if finish != nil {
		if err := finish(ctx, tx, &st); err != nil {
			return nil, err
		}
	}
	if err := Commit(ctx, tx, &st, projection, applied); err != nil {
		return nil, err
	}
	return applied, nil
}
