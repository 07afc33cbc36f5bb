package domain

import "time"

// Aggregate is a consistency boundary: it decides commands against its state and folds its
// own events into that state. Decide never mutates; Apply never fails.
type Aggregate interface {
	Decide(cmd Command, now time.Time) ([]Event, error)
	Apply(e Event)
	Version() int64
}

// eventsOf builds the envelopes of the events one command produces, numbering versions on
// from the aggregate's current version.
func eventsOf(cmd Command, version int64, now time.Time, data ...EventData) []Event {
	out := make([]Event, len(data))
	for i, d := range data {
		out[i] = Event{
			ID:            EventID(cmd.ID, i),
			Type:          d.EventType(),
			AggregateType: cmd.AggregateType,
			AggregateID:   cmd.AggregateID,
			Version:       version + int64(i) + 1,
			OccurredAt:    now.UTC(),
			ActorID:       cmd.ActorID,
			CommandID:     cmd.ID,
			SchemaVersion: SchemaVersion(d.EventType()),
			Data:          d,
			ActingID:      cmd.ActingID,
		}
	}
	return out
}
