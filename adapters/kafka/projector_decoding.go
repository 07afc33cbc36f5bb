package kafka

import (
	"context"
	"fmt"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Decoding runs a projection's handler (projections/...: it knows events, not Kafka records) as
// a ProjectionHandler: each batch's records are decoded into events first. A record that cannot
// be decoded fails its batch (and is dead-lettered like any record that keeps failing), unless
// the handler is checkpoint.Lenient, which is told of it and handed it with a zero event.
func Decoding(h checkpoint.Handler) ProjectionHandler { return decoding{h} }

type decoding struct{ h checkpoint.Handler }

func (d decoding) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return d.h.Checkpoints(ctx)
}

func (d decoding) Handle(ctx context.Context, recs []Record) error {
	lenient, _ := d.h.(checkpoint.Lenient)
	out := make([]checkpoint.Record, len(recs))
	for i, r := range recs {
		ev, err := DecodeEvent(r.Value)
		out[i] = checkpoint.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Event: ev}
		if err != nil {
			if lenient == nil {
				return fmt.Errorf("event at %s/%d/%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			lenient.Undecodable(out[i], err)
			out[i].Event = domain.Event{}
		}
	}
	return d.h.Handle(ctx, out)
}

// Skip makes every decoded handler a RecordSkipper: its records are dead-lettered.
func (d decoding) Skip(ctx context.Context, rec Record, cause error) error {
	return d.h.Skip(ctx, checkpoint.Record{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset}, cause)
}
