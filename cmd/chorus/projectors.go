package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

const pushProjection = "push"

func decodeRecords(recs []kafka.Record) ([]readmodel.Record, error) {
	out := make([]readmodel.Record, len(recs))
	for i, r := range recs {
		var ev domain.Event
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			return nil, fmt.Errorf("event at %s/%d/%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		out[i] = readmodel.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Event: ev}
	}
	return out, nil
}

// readModelHandler projects events into the Postgres read model, checkpoint in the same
// transaction.
type readModelHandler struct{ store *readmodel.Store }

func (h *readModelHandler) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return h.store.Checkpoints(ctx, readmodel.Projection)
}

func (h *readModelHandler) Handle(ctx context.Context, recs []kafka.Record) error {
	rs, err := decodeRecords(recs)
	if err != nil {
		return err
	}
	return h.store.ApplyBatch(ctx, readmodel.Projection, rs)
}

// pushHandler turns room events into pushes on the Redis stream, then checkpoints. A crash in
// between re-sends a few pushes (at least once); clients tell them apart by seq.
type pushHandler struct {
	store *readmodel.Store
	pub   *redis.PushPublisher
}

func (h *pushHandler) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return h.store.Checkpoints(ctx, pushProjection)
}

func (h *pushHandler) Handle(ctx context.Context, recs []kafka.Record) error {
	rs, err := decodeRecords(recs)
	if err != nil {
		return err
	}
	var pushes []projections.Push
	for _, r := range rs {
		ps, err := projections.PushesOf(r.Event)
		if err != nil {
			return err
		}
		pushes = append(pushes, ps...)
	}
	if err := h.pub.Publish(pushes); err != nil {
		return fmt.Errorf("publish pushes: %w", err)
	}
	return h.store.SaveCheckpoints(ctx, pushProjection, rs)
}
