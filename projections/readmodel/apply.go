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

	next, err := checkpoint.Lock(ctx, tx, projection, recs, checkpoint.PartitionOf)
	if err != nil {
		return err
	}

	var st checkpoint.Statements
	touched := make(map[uuid.UUID]roomTouch)
	applied := checkpoint.Fresh(recs, next, func(r Record) {
		st.Describe(r, queueEvent(&st.Batch, r.Event, touched))
	})
	if applied == nil {
		return nil // everything was applied before
	}
	// A room's last_seq and updated_at only ever grow, so one update per room with the batch's
	// maxima is equivalent to one per message, and spares the row hundreds of versions.
	for id, t := range touched {
		st.Batch.Queue(`UPDATE rooms SET last_seq = GREATEST(last_seq, $2), updated_at = GREATEST(updated_at, $3) WHERE id = $1`,
			id, t.lastSeq, t.updatedAt)
		st.Note("update room " + id.String())
	}
	if err := checkpoint.Commit(ctx, tx, &st, projection, applied); err != nil {
		return fmt.Errorf("apply batch: %w", err)
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
