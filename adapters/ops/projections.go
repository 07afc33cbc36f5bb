package ops

import (
	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/projections/notify"
	"github.com/chorus-chat/chorus/projections/readmodel"
	"github.com/chorus-chat/chorus/projections/search"
)

// Projection is a projection the server runs: its checkpoint name and the topics its projectors
// read. cmd/chorus wires its projectors from these, and the status and the rebuilds read the
// same, so the three cannot disagree.
type Projection struct {
	Name   string
	Topics func(kafka.Topics) []string
}

// Group is the consumer group of the projection's projectors.
func (p Projection) Group() string { return ProjectorGroup(p.Name) }

// The projections the server runs.
var (
	ReadModel     = Projection{readmodel.Projection, func(t kafka.Topics) []string { return t.EventTopics() }}
	Push          = Projection{"push", func(t kafka.Topics) []string { return []string{t.ChatEvents, t.SystemEvents} }}
	Search        = Projection{search.Projection, func(t kafka.Topics) []string { return []string{t.ChatEvents} }}
	Notifications = Projection{notify.Projection, func(t kafka.Topics) []string { return []string{t.ChatEvents, t.SystemEvents} }}
)

// Projections are the projections the server runs, in the order the status shows them.
var Projections = []Projection{ReadModel, Push, Search, Notifications}

// projectionOf is the projection the server runs under name, if any.
func projectionOf(name string) (Projection, bool) {
	for _, p := range Projections {
		if p.Name == name {
			return p, true
		}
	}
	return Projection{}, false
}

// ProjectorGroup is the consumer group of a projection's projectors.
func ProjectorGroup(projection string) string { return "chorus-projector-" + projection }
