package readmodel

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/projtx"
)

// ApplyBatch applies recs to the read model and advances projection's checkpoints past them, in
// one transaction: either all of a batch's effects and its checkpoint are stored, or none.
// Records below the stored checkpoint of their partition (already applied by an earlier batch)
// are skipped, so redelivery after a crash has no effect twice. Records of one partition must
// come in offset order, as the log delivers them.
//
// Every effect is also idempotent on its own (upserts that keep the first write, counters moved
// only by rows actually inserted or deleted), so a rebuild that replays events over rows that
// survived gives the same state.
//
// All statements of a batch go to Postgres in one pipelined round trip; together with the
// checkpoint lock before it and the commit, a batch of any size costs three round trips.
func (s *Store) ApplyBatch(ctx context.Context, projection string, recs []Record) error {
	return s.applyBatch(ctx, "", projection, recs)
}

// ApplyBatchIn is ApplyBatch into the read-model tables of another Postgres schema (a new
// generation of the read model being rebuilt beside the live one): the batch's statements run
// with search_path = schema, public, so the read-model tables resolve to schema's and
// projection_checkpoints (which exists only in public) to the shared one. projection should be
// the generation's own checkpoint name, not Projection.
func (s *Store) ApplyBatchIn(ctx context.Context, schema, projection string, recs []Record) error {
	if schema == "" {
		return fmt.Errorf("apply batch: no schema given")
	}
	return s.applyBatch(ctx, schema, projection, recs)
}

// applyBatch is ApplyBatch into schema ("": the default search_path, the live tables).
func (s *Store) applyBatch(ctx context.Context, schema, projection string, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	tx, err := projtx.Begin(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("apply batch: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if schema != "" {
		// SET takes no parameters; the identifier is quoted instead.
		if _, err := tx.Exec(ctx, "SET LOCAL search_path = "+pgx.Identifier{schema}.Sanitize()+", public"); err != nil {
			return fmt.Errorf("apply batch: search_path %s: %w", schema, err)
		}
	}

	next, err := checkpoint.Lock(ctx, tx, projection, recs, partitionOf)
	if err != nil {
		return err
	}

	var (
		b       pgx.Batch
		what    []string // what each queued statement does, for errors
		touched = make(map[uuid.UUID]roomTouch)
		applied = make(map[partition]int64)
	)
	for _, r := range recs {
		p := partitionOf(r)
		if r.Offset < next[p] {
			continue
		}
		next[p] = r.Offset + 1
		applied[p] = r.Offset + 1
		for _, desc := range queueEvent(&b, r.Event, touched) {
			what = append(what, fmt.Sprintf("%s (%s at %s:%d:%d)", desc, r.Event.Type, r.Topic, r.Partition, r.Offset))
		}
	}
	if len(applied) == 0 {
		return nil // everything was applied before
	}
	// A room's last_seq and updated_at only ever grow, so one update per room with the batch's
	// maxima is equivalent to one per message, and spares the row hundreds of versions.
	for id, t := range touched {
		b.Queue(`UPDATE rooms SET last_seq = GREATEST(last_seq, $2), updated_at = GREATEST(updated_at, $3) WHERE id = $1`,
			id, t.lastSeq, t.updatedAt)
		what = append(what, "update room "+id.String())
	}
	for p, off := range applied {
		b.Queue(`UPDATE projection_checkpoints SET next_offset = GREATEST(next_offset, $4), updated_at = now()
			WHERE projection = $1 AND topic = $2 AND partition = $3`, projection, p.Topic, p.Part, off)
		what = append(what, "advance checkpoint")
	}

	br := tx.SendBatch(ctx, &b)
	for i := range b.Len() {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("apply batch: %s: %w", what[i], err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("apply batch: commit: %w", err)
	}
	if projection == Projection && schema == "" {
		s.advance(applied)
	}
	return nil
}

// Checkpoints returns the next offsets stored for projection: topic → partition → offset of
// the first record not yet applied.
func (s *Store) Checkpoints(ctx context.Context, projection string) (map[string]map[int32]int64, error) {
	return checkpoint.Load(ctx, s.pool, projection)
}

func partitionOf(r Record) partition { return partition{Topic: r.Topic, Part: r.Partition} }
