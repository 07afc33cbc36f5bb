package domain_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// Every payload type of every kind round-trips through its decoder, and through the envelope's
// (Command and Event UnmarshalJSON); its kind is the aggregate that its samples address.
func TestEveryKindsPayloadsRoundTrip(t *testing.T) {
	events := map[string]domain.Event{}
	for _, e := range sampleEvents() {
		events[e.Type] = e
	}
	commands := 0
	for _, k := range domain.Kinds() {
		for _, c := range k.Commands {
			commands++
			p := samplePayload(c.Type)
			if c.Type == domain.CmdPublishSystemEvent {
				p = domain.PublishSystemEvent{Kind: domain.SystemMaintenance, Message: "m", Data: json.RawMessage(`{"a":1}`)}
			}
			if p == nil {
				t.Errorf("%s: no sample payload of %s", k.Name, c.Type)
				continue
			}
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Decode(b)
			if err != nil || !reflect.DeepEqual(got, p) {
				t.Errorf("%s: %s decodes as %#v, %v; want %#v", k.Name, b, got, err, p)
			}
			if kt := domain.AggregateTypeOf(p); kt != k.Name {
				t.Errorf("%s: a %s command is for a %q aggregate", k.Name, c.Type, kt)
			}
			cmd := domain.NewCommand(uuid.New(), uuid.New(), uuid.New(), "a", now, p)
			b, err = json.Marshal(cmd)
			if err != nil {
				t.Fatal(err)
			}
			var back domain.Command
			if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, cmd) {
				t.Errorf("%s: command %s reads back as %#v, %v", k.Name, b, back, err)
			}
		}
		for _, c := range k.Events {
			e, ok := events[c.Type]
			if !ok {
				t.Errorf("%s: no sample event of %s", k.Name, c.Type)
				continue
			}
			if e.AggregateType != k.Name {
				t.Errorf("%s: the sample %s is of a %q aggregate", k.Name, c.Type, e.AggregateType)
			}
			b, err := json.Marshal(e.Data)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Decode(b)
			if err != nil || !reflect.DeepEqual(got, e.Data) {
				t.Errorf("%s: %s decodes as %#v, %v; want %#v", k.Name, b, got, err, e.Data)
			}
			b, err = json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			var back domain.Event
			if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, e) {
				t.Errorf("%s: event %s reads back as %#v, %v", k.Name, b, back, err)
			}
		}
	}
	if commands != len(allCommandTypes)+2 { // and publish_system_event, record_presence
		t.Errorf("the kinds own %d command types, want %d", commands, len(allCommandTypes)+2)
	}
}

// Every kind's aggregate, fresh, survives a snapshot as an aggregate of its kind, and its
// snapshot tag is the one snapshots were written with (a tag never changes).
func TestEveryKindSnapshots(t *testing.T) {
	tags := map[string]byte{domain.AggregateRoom: 1, domain.AggregateUser: 2, domain.AggregateSystem: 3}
	for _, k := range domain.Kinds() {
		if want, ok := tags[k.Name]; ok && k.SnapshotTag != want {
			t.Errorf("%s: snapshot tag %d, snapshots were written with %d", k.Name, k.SnapshotTag, want)
		}
		if got := domain.KindOfSnapshotTag(k.SnapshotTag); got == nil || got.Name != k.Name {
			t.Errorf("%s: tag %d names %v", k.Name, k.SnapshotTag, got)
		}
		id := uuid.New()
		a := domain.NewAggregate(k.Name, id)
		s, err := domain.SnapshotAggregate(a)
		if err != nil || s.Type != k.Name {
			t.Fatalf("%s: snapshot %+v, %v", k.Name, s, err)
		}
		if got, ok := s.AggregateID(); !ok || got != id {
			t.Errorf("%s: snapshot of %s names %s", k.Name, id, got)
		}
		back, err := domain.RestoreAggregate(s)
		if err != nil || reflect.TypeOf(back) != reflect.TypeOf(a) {
			t.Errorf("%s: restored %T, %v; want %T", k.Name, back, err, a)
		}
	}
}

// An aggregate type or command type that no kind names is an error wherever it is met, never
// a room; where it reaches a client it is validation_failed (commands.PartitionState.Decide).
func TestUnknownKindsAndCommandsAreErrors(t *testing.T) {
	if k, err := domain.KindOf("guild"); !errors.Is(err, domain.ErrUnknownKind) || k != nil {
		t.Errorf("KindOf(guild) = %v, %v", k, err)
	}
	if k, err := domain.KindOf(""); !errors.Is(err, domain.ErrUnknownKind) || k != nil {
		t.Errorf("KindOf(\"\") = %v, %v", k, err)
	}
	if k, err := domain.KindOfCommand("explode_room"); !errors.Is(err, domain.ErrUnknownCommand) || k != nil {
		t.Errorf("KindOfCommand(explode_room) = %v, %v", k, err)
	}
	if k := domain.KindOfSnapshotTag(0); k != nil {
		t.Errorf("snapshot tag 0 names %s", k.Name)
	}
	var c domain.Command
	err := json.Unmarshal([]byte(`{"type":"explode_room","aggregate_type":"room","payload":{}}`), &c)
	if !errors.Is(err, domain.ErrUnknownCommand) {
		t.Errorf("a command of an unknown type decodes with %v", err)
	}
	if got := domain.AggregateTypeOf(unknownPayload{}); got != "" {
		t.Errorf("a payload of no kind addresses a %q aggregate", got)
	}
	if got := domain.AggregateTypeOf(nil); got != "" {
		t.Errorf("no payload addresses a %q aggregate", got)
	}
	if _, err := domain.RestoreAggregate(domain.AggregateSnapshot{Type: "guild", Room: &domain.RoomSnapshot{}}); err == nil {
		t.Error("a snapshot of an unknown kind restores")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("NewAggregate of an unknown kind made an aggregate")
			}
		}()
		domain.NewAggregate("guild", uuid.New())
	}()
}

type unknownPayload struct{}

func (unknownPayload) CommandType() string { return "explode_room" }
