package commands

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// RecentCommands is how many command ids each aggregate remembers, with their replies, so that a
// redelivered or retried command is answered with its first result instead of appending again.
const RecentCommands = 1024

// PartitionState is the write model of one partition: every aggregate whose key hashes to it,
// and each aggregate's recent commands. One goroutine owns it; it is not safe for concurrent use.
type PartitionState struct {
	aggs map[uuid.UUID]*aggregateEntry
}

type aggregateEntry struct {
	agg    domain.Aggregate
	recent map[uuid.UUID]*Reply
	ring   []uuid.UUID // command ids in arrival order, for eviction
	next   int
}

// NewPartitionState is the state of a partition before any event.
func NewPartitionState() *PartitionState {
	return &PartitionState{aggs: map[uuid.UUID]*aggregateEntry{}}
}

// Aggregates is the number of aggregates held.
func (s *PartitionState) Aggregates() int { return len(s.aggs) }

func (s *PartitionState) entry(kind *domain.Kind, id uuid.UUID) *aggregateEntry {
	e, ok := s.aggs[id]
	if !ok {
		e = &aggregateEntry{agg: kind.New(id), recent: map[uuid.UUID]*Reply{}}
		s.aggs[id] = e
	}
	return e
}

// appliedRecognizer is an aggregate that can tell from its own state that a command was applied
// (domain.Room.Applied) and rebuild the events it produced.
type appliedRecognizer interface {
	Applied(cmd domain.Command) ([]domain.Event, bool)
}

// lastPosition is the position of the newest remembered reply that has one: it is at or after
// every earlier event of the aggregate, so waiting for it covers them (read-your-writes).
func (e *aggregateEntry) lastPosition() string {
	for i := range len(e.ring) {
		id := e.ring[(e.next-1-i+2*len(e.ring))%len(e.ring)]
		if r := e.recent[id]; r != nil && r.Position != "" {
			return r.Position
		}
	}
	return ""
}

func (e *aggregateEntry) remember(r *Reply) {
	if len(e.ring) < RecentCommands {
		e.ring = append(e.ring, r.CommandID)
	} else {
		delete(e.recent, e.ring[e.next])
		e.ring[e.next] = r.CommandID
		e.next = (e.next + 1) % RecentCommands
	}
	e.recent[r.CommandID] = r
}

// Replay applies an event read back from the log, rebuilding the aggregate and the reply of the
// command that produced it. An event of an aggregate type no kind names (domain.ErrUnknownKind)
// is an error: the partition cannot be rebuilt by this build, and must not take it for a room.
func (s *PartitionState) Replay(ev domain.Event, pos domain.Position) error {
	kind, err := domain.KindOf(ev.AggregateType)
	if err != nil {
		return err
	}
	e := s.entry(kind, ev.AggregateID)
	e.agg.Apply(ev)
	r, ok := e.recent[ev.CommandID]
	if !ok {
		r = &Reply{CommandID: ev.CommandID, Accepted: true}
		e.remember(r)
	}
	r.Events = append(r.Events, ev)
	r.Position = pos.String()
	return nil
}

// Decision is the outcome of one live command.
type Decision struct {
	Reply *Reply
	// Events to append; empty for a rejection, a command already decided, or an accepted
	// command that changes nothing (mark_read at or below the marker): that one's Reply is
	// accepted and, having no event, gets no Position.
	Events []domain.Event
	// Duplicate: the command id was seen before; Reply is the first answer.
	Duplicate bool
}

// Decide decides a command. Accepted events are applied at once, so the next command of the same
// batch sees them; if the batch's transaction then fails the whole PartitionState must be
// discarded and rebuilt from the log. The reply's Position is set by the caller once the events
// have offsets (SetPosition).
func (s *PartitionState) Decide(cmd domain.Command, now time.Time) Decision {
	want := domain.AggregateTypeOf(cmd.Payload)
	if want == "" {
		// A payload no kind owns (a record decodes only with a known type; a Command built in
		// Go may carry anything): no aggregate decides it.
		return Decision{Reply: &Reply{CommandID: cmd.ID, Code: domain.CodeValidationFailed,
			Message: fmt.Sprintf("%v %q", domain.ErrUnknownCommand, cmd.Type)}}
	}
	if cmd.AggregateType != want {
		// The aggregate is found by id alone, so a record whose aggregate_type disagrees with
		// its payload would be decided by that aggregate and write events under the wrong
		// type (FuzzDecideCommand). The gateway never sends one.
		return Decision{Reply: &Reply{CommandID: cmd.ID, Code: domain.CodeValidationFailed,
			Message: fmt.Sprintf("a %s command is for a %s aggregate, not %q", cmd.Type, want, cmd.AggregateType)}}
	}
	kind, _ := domain.KindOf(want) // the kind of a payload's type is known
	e := s.entry(kind, cmd.AggregateID)
	if r, ok := e.recent[cmd.ID]; ok {
		return Decision{Reply: r, Duplicate: true}
	}
	if a, ok := e.agg.(appliedRecognizer); ok {
		// Past the recent-command window, the aggregate itself may know the command was applied.
		if events, ok := a.Applied(cmd); ok {
			r := &Reply{CommandID: cmd.ID, Accepted: true, Events: events, Position: e.lastPosition()}
			e.remember(r)
			return Decision{Reply: r, Duplicate: true}
		}
	}
	events, err := e.agg.Decide(cmd, now)
	if err != nil {
		code, msg := domain.CodeValidationFailed, err.Error()
		var de *domain.Error
		if errors.As(err, &de) {
			code, msg = de.Code, de.Message
		}
		if len(s.aggs) > 0 && e.agg.Version() == 0 && len(e.recent) == 0 {
			delete(s.aggs, cmd.AggregateID) // don't keep an empty aggregate for a rejected command
		}
		return Decision{Reply: &Reply{CommandID: cmd.ID, Code: code, Message: msg}}
	}
	for _, ev := range events {
		e.agg.Apply(ev)
	}
	r := &Reply{CommandID: cmd.ID, Accepted: true, Events: events}
	e.remember(r)
	return Decision{Reply: r, Events: events}
}
