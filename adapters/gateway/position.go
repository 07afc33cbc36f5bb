package gateway

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/queries"
)

// PositionSpace is where the positions this server answers can lie: the topics the command
// processors append events to, each with Partitions partitions.
type PositionSpace struct {
	Topics     []string
	Partitions int32
}

// parsePosition reads a ?position=. One that does not parse, or that names a topic or partition
// no accepted command can answer, is 400 validation_failed at once: waiting for it would only
// end in not_caught_up after PositionWait.
func (g *Gateway) parsePosition(raw string) (domain.Position, error) {
	pos, err := domain.ParsePosition(raw)
	if err != nil {
		return pos, errValidation("position is malformed: want the position an accepted command answered")
	}
	sp := g.cfg.Positions
	if len(sp.Topics) > 0 && !slices.Contains(sp.Topics, pos.Topic) {
		return pos, errValidation("position names no event topic of this server")
	}
	if sp.Partitions > 0 && pos.Partition >= sp.Partitions {
		return pos, errValidation("position names partition %d; the event topics have %d", pos.Partition, sp.Partitions)
	}
	return pos, nil
}

// LogEnds tells where a partition's log ends: the offset its next record will get (Kafka's
// high-water mark).
type LogEnds interface {
	LogEnd(ctx context.Context, topic string, partition int32) (int64, error)
}

// positionGrace is how long a query waits for its position before asking whether that position
// exists at all: a read model is usually that close behind, so the log is rarely asked.
const positionGrace = 50 * time.Millisecond

// waitForPosition waits (bounded by PositionWait) until the projection wait reads has reached
// pos. A position the projection has not reached after positionGrace that lies beyond the end
// of its partition's log is 400 validation_failed at once. The queries wait for their own
// projections through it (queries.Deps.WaitPosition).
func (g *Gateway) waitForPosition(ctx context.Context, pos domain.Position, wait queries.WaitFunc) error {
	if g.logEnds == nil || g.cfg.PositionWait <= positionGrace {
		return wait(ctx, pos, g.cfg.PositionWait)
	}
	start := time.Now()
	err := wait(ctx, pos, positionGrace)
	if err == nil || ctx.Err() != nil {
		return err
	}
	end, lerr := g.logEnds.LogEnd(ctx, pos.Topic, pos.Partition)
	switch {
	case lerr != nil:
		// The log cannot say: wait as for any position (the wait's own bound holds).
		g.log.Debug("position: log end unknown", "position", pos.String(), "err", lerr)
	case pos.Offset >= end:
		return errValidation("position is beyond the end of the log (%s ends at offset %d): no accepted command answered it", pos.Topic+":"+strconv.Itoa(int(pos.Partition)), end)
	}
	return wait(ctx, pos, g.cfg.PositionWait-time.Since(start))
}
