package main

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/gateway"
	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/metrics"
	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/readmodel"
	"github.com/chorus-chat/chorus/projections/search"
)

// setupSearch runs the search projector with the projectors role and lets the gateway, with the
// gateway role, answer searches from the index. In one process both share one Store, so a
// batch the projector applies wakes the searches waiting for it at once; across processes the
// gateway's Store polls the checkpoints. A record the index cannot store (after
// CHORUS_PROJECTOR_ATTEMPTS tries) is dead-lettered like the read model's, so that one bad
// record does not stop search for its whole partition.
func setupSearch(cfg Config, kcfg kafka.Config, pool *pgxpool.Pool, roles map[string]bool, deps *gateway.Deps,
	run func(string, func(context.Context) error), met *metrics.Metrics, watch func(*kafka.Projector), log *slog.Logger) {
	store := search.NewStore(pool, kcfg.Topics.ChatEvents)
	if roles[roleProjectors] && cfg.runs(ops.Search) {
		h := &searchHandler{store: store, dead: deadLetters(pool, readmodel.NewStore(pool)), log: log.With("projector", ops.Search.Group())}
		// Its own group and its own checkpoints (projection "search"), so that the index is
		// rebuilt and lags on its own.
		p := kafka.NewProjector(kcfg, ops.Search.Group(), ops.Search.Topics(kcfg.Topics), h, log).
			WithDeadLetters(search.Projection, cfg.ProjectorAttempts).WithFailures(failureLog{pool: pool, instance: cfg.InstanceID}).
			UseMetrics(met).Gathering(gatherBytes, gatherWait)
		watch(p)
		run("projector-search", p.Run)
	}
	if deps != nil {
		deps.Search = store
	}
}

// searchHandler applies chat events to the search index, checkpoint in the same transaction.
type searchHandler struct {
	store *search.Store
	dead  deadLetterLog
	log   *slog.Logger
}

func (h *searchHandler) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return h.store.Checkpoints(ctx)
}

// Handle applies a batch. A record that is not an event the domain knows holds nothing the
// index could show, so it only advances the checkpoint (with a warning): the read model, which
// reads the same records, dead-letters and counts it already.
func (h *searchHandler) Handle(ctx context.Context, recs []kafka.Record) error {
	out := make([]search.Record, len(recs))
	for i, r := range recs {
		ev, err := kafka.DecodeEvent(r.Value)
		out[i] = search.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Event: ev}
		if err != nil {
			h.log.Warn("search index skips an undecodable record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
			out[i].Event = domain.Event{}
		}
	}
	return storeError(h.store.ApplyBatch(ctx, out))
}

// Skip moves the search checkpoint past a record that keeps failing and counts it.
func (h *searchHandler) Skip(ctx context.Context, rec kafka.Record, cause error) error {
	return h.dead.skip(ctx, search.Projection, rec, cause)
}
