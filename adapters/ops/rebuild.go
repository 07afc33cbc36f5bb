package ops

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// RebuildOptions say how to rebuild.
type RebuildOptions struct {
	// Restart drops the generation an interrupted rebuild left and starts over; Drop only drops
	// it. Without either, a rebuild resumes such a generation from its checkpoints.
	Restart, Drop bool
	// Batch is the events applied per transaction (0: DefaultBatch).
	Batch int
	// Progress is told how far the rebuild is (nil: nobody).
	Progress Progress
	// Resuming, if set, is called when an interrupted rebuild is resumed.
	Resuming func(schema string)
}

// RebuildResult is what a rebuild did.
type RebuildResult struct {
	Projection string `json:"projection"`
	// Applied counts the events applied into the new generation by this run.
	Applied int64 `json:"events_applied"`
	// Resumed says that an interrupted rebuild was resumed.
	Resumed bool `json:"resumed"`
	// Dropped says that the run only dropped a generation (Drop).
	Dropped bool `json:"dropped"`
}

// maxSwapAttempts bounds the catch-up passes before the swap.
const maxSwapAttempts = 50

// Rebuild builds a new generation of the projection from offset 0 in schema <name>_next beside
// the live tables (which keep serving), catches it up to the live projector and swaps it in
// atomically (see swap). Interrupted (ctx ended, or an error), it leaves the live projection
// untouched and the new generation where it was, for the next run to resume.
func Rebuild(ctx context.Context, d Deps, name string, o RebuildOptions) (RebuildResult, error) {
	res := RebuildResult{Projection: name}
	if o.Restart && o.Drop {
		return res, errors.New("rebuild: restart and drop exclude each other")
	}
	g, err := openGeneration(ctx, d, name, kindNext, o.Batch, o.Progress)
	if err != nil {
		return res, err
	}
	defer g.close()
	if o.Drop || o.Restart {
		if err := g.drop(ctx); err != nil {
			return res, err
		}
		if o.Drop {
			res.Dropped = true
			return res, nil
		}
	}
	if res.Resumed, err = g.create(ctx); err != nil {
		return res, err
	}
	if res.Resumed && o.Resuming != nil {
		o.Resuming(g.schema)
	}
	for attempt := 0; ; attempt++ {
		// The live projector cannot stay ahead for long (each pass only applies what arrived
		// since the last), unless its checkpoints are beyond the log end (a log that was reset,
		// which status shows as unknown), or readers keep deadlocking with the swap.
		if attempt == maxSwapAttempts {
			return res, fmt.Errorf("rebuild %s: could not swap after %d attempts: are the live checkpoints beyond the log end (see projections status)? Run again to resume", name, attempt)
		}
		err := g.catchUp(ctx, nil)
		res.Applied = g.applied.Load()
		if err == nil {
			// Once, after the bulk of the log (later passes only find them there).
			err = g.buildIndexes(ctx)
		}
		if err != nil {
			return res, fmt.Errorf("rebuild %s (the live projection is untouched; run again to resume): %w", name, err)
		}
		swapped, err := g.swap(ctx)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "55P03") && ctx.Err() == nil {
			continue // a reader of two tables crossed our locks: try again
		}
		if err != nil {
			return res, fmt.Errorf("rebuild %s: swap (the live projection is untouched; run again to resume): %w", name, err)
		}
		if swapped {
			return res, nil
		}
		// The live projector went past what we applied: catch up again.
	}
}

// VerifyOptions say how to verify.
type VerifyOptions struct {
	// Keep keeps the scratch generation (schema <name>_verify) for inspection.
	Keep bool
	// Examples is how many differing rows to show per table and side.
	Examples int
	// Batch is the events applied per transaction (0: DefaultBatch).
	Batch int
	// Progress is told how far the scratch build is (nil: nobody).
	Progress Progress
}

// VerifyResult is what a verify found.
type VerifyResult struct {
	Projection string      `json:"projection"`
	Tables     []TableDiff `json:"tables"`
	// DifferingRows sums the tables' Rows: 0 when the live projection is what a rebuild makes.
	DifferingRows int `json:"differing_rows"`
	// Replayed counts the events applied into the scratch generation.
	Replayed int64 `json:"events_replayed"`
	// KeptIn is the schema of the scratch generation when it was kept.
	KeptIn string `json:"kept_in,omitempty"`
}

// Verify rebuilds the projection into a scratch generation (schema <name>_verify) up to the
// live checkpoints and compares it with the live tables row by row; the scratch generation is
// dropped afterwards, even when interrupted, unless Keep.
func Verify(ctx context.Context, d Deps, name string, o VerifyOptions) (VerifyResult, error) {
	res := VerifyResult{Projection: name}
	g, err := openGeneration(ctx, d, name, kindVerify, o.Batch, o.Progress)
	if err != nil {
		return res, err
	}
	defer g.close()
	// A scratch generation left by an earlier verify may be at any offsets: start afresh.
	if err := g.drop(ctx); err != nil {
		return res, err
	}
	if _, err := g.create(ctx); err != nil {
		return res, err
	}
	if o.Keep {
		res.KeptIn = g.schema
	} else {
		defer func() {
			// Dropped even when interrupted, so with a context of its own.
			_ = g.drop(context.WithoutCancel(ctx))
		}()
	}
	// Build up to the live checkpoints as they are now, without holding anything.
	live, err := checkpoint.Load(ctx, d.Pool, name)
	if err != nil {
		return res, err
	}
	if err := g.catchUp(ctx, live); err != nil {
		res.Replayed = g.applied.Load()
		return res, fmt.Errorf("verify %s: %w", name, err)
	}
	diffs, err := g.compare(ctx, o.Examples)
	res.Replayed = g.applied.Load()
	if err != nil {
		return res, fmt.Errorf("verify %s: %w", name, err)
	}
	res.Tables = diffs
	for _, t := range diffs {
		res.DifferingRows += t.Rows
	}
	return res, nil
}
