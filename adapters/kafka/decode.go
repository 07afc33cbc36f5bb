package kafka

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// DecodeEvent decodes an event record's value as json.Unmarshal into a domain.Event does, about
// twice as fast: the envelope goes through ParseEnvelope's one pass instead of encoding/json's
// three (validate the whole value, validate again and decode into the envelope with the data
// held raw, then validate and decode the data), leaving only the data to encoding/json, and not
// even that for a MessageSent in the shape json.Marshal gives it (messageSentFast). Rebuilds
// and projectors decode every event of the log, and there it shows (docs/benchmarks.md).
func DecodeEvent(b []byte) (domain.Event, error) {
	env, err := ParseEnvelope(b)
	if err != nil {
		return domain.Event{}, err
	}
	e := domain.Event{Type: env.Type, AggregateType: env.AggregateType, Version: env.Version, OccurredAt: env.OccurredAt}
	for i, id := range []struct {
		dst  *uuid.UUID
		src  string
		name string
	}{{&e.ID, env.ID, "id"}, {&e.AggregateID, env.AggregateID, "aggregate_id"}, {&e.ActorID, env.ActorID, "actor_id"}, {&e.CommandID, env.CommandID, "command_id"}} {
		if env.idsGiven&(1<<i) == 0 {
			continue // absent or null: the zero id, as encoding/json leaves it
		}
		if *id.dst, err = uuid.Parse(id.src); err != nil {
			return domain.Event{}, fmt.Errorf("event %s: %w", id.name, err)
		}
	}
	if env.actingGiven {
		id, err := uuid.Parse(env.ActingID)
		if err != nil {
			return domain.Event{}, fmt.Errorf("event acting_id: %w", err)
		}
		e.ActingID = &id
	}
	if env.Type == domain.TypeMessageSent && int(env.SchemaVersion) == messageSentVersion {
		if d, ok := messageSentFast(env.Data); ok {
			e.Data, e.SchemaVersion = d, messageSentVersion
			return e, nil
		}
	}
	e.Data, e.SchemaVersion, err = domain.DecodeData(env.Type, int(env.SchemaVersion), env.Data)
	if err != nil {
		return domain.Event{}, err
	}
	return e, nil
}

// messageSentVersion is the schema version of MessageSent data messageSentFast reads.
var messageSentVersion = domain.SchemaVersion(domain.TypeMessageSent)
