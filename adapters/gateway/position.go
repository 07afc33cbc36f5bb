package gateway

import (
	"slices"

	"github.com/chorus-chat/chorus/domain"
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
