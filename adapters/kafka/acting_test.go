package kafka

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// A delegate's event keeps acting_id through the fast decoder and the replay's re-encoding, and
// an event without one is written back without it.
func TestActingIDThroughTheEnvelope(t *testing.T) {
	room, delegate := uuid.New(), uuid.New()
	ev := domain.Event{ID: uuid.New(), Type: domain.TypeRoomDeleted, AggregateType: domain.AggregateRoom, AggregateID: room,
		Version: 3, OccurredAt: time.Unix(1_700_000_000, 0).UTC(), ActorID: uuid.New(), CommandID: uuid.New(),
		SchemaVersion: domain.SchemaVersion(domain.TypeRoomDeleted),
		Data:          domain.RoomDeleted{RoomID: room, DeletedBy: uuid.New(), DeletedAt: time.Unix(1_700_000_000, 0).UTC()}}
	for _, acting := range []*uuid.UUID{nil, &delegate} {
		ev.ActingID = acting
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeEvent(b)
		if err != nil || !reflect.DeepEqual(got, ev) {
			t.Errorf("DecodeEvent(%s) = %+v, %v", b, got, err)
		}
		env, err := ParseEnvelope(b)
		if err != nil {
			t.Fatal(err)
		}
		out, err := env.AppendJSON(nil, false)
		if err != nil || string(out) != string(b) {
			t.Errorf("AppendJSON = %s, %v; want %s", out, err, b)
		}
	}
}
