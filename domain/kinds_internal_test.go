package domain

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

// probe is an aggregate of a kind added after the three with snapshot forms of their own.
type probe struct {
	id      uuid.UUID
	version int64
	notes   []string
}

type probeSnapshot struct {
	ID      uuid.UUID `json:"id"`
	Version int64     `json:"version"`
	Notes   []string  `json:"notes"`
}

func (p *probe) Decide(Command, time.Time) ([]Event, error) { return nil, nil }
func (p *probe) Apply(e Event)                              { p.version = e.Version }
func (p *probe) Version() int64                             { return p.version }

// withKind runs f with k added to the table.
func withKind(t *testing.T, k Kind, f func()) {
	t.Helper()
	saved, savedIndex := kinds, index
	defer func() { kinds, index = saved, savedIndex }()
	kinds = append(append([]Kind(nil), saved...), k)
	index = indexKinds(kinds)
	f()
}

// A kind without a snapshot form of its own is written down as the JSON of its state, and
// read back as it was.
func TestStateSnapshotsRoundTrip(t *testing.T) {
	k := Kind{Name: "probe", Stream: StreamChat, SnapshotTag: 200,
		New: func(id uuid.UUID) Aggregate { return &probe{id: id} },
		Snapshots: stateSnapshots("probe", func(p *probe) uuid.UUID { return p.id },
			func(p *probe) probeSnapshot { return probeSnapshot{p.id, p.version, p.notes} },
			func(s probeSnapshot) *probe { return &probe{s.ID, s.Version, s.Notes} })}
	withKind(t, k, func() {
		a := &probe{id: uuid.New(), version: 7, notes: []string{"a", "b"}}
		s, err := SnapshotAggregate(a)
		if err != nil || s.Type != "probe" || s.State == nil || s.Room != nil {
			t.Fatalf("snapshot %+v, %v", s, err)
		}
		if id, ok := s.AggregateID(); !ok || id != a.id {
			t.Errorf("snapshot names %s, want %s", id, a.id)
		}
		back, err := RestoreAggregate(s)
		if err != nil || !reflect.DeepEqual(back, a) {
			t.Errorf("restored %#v, %v; want %#v", back, err, a)
		}
		if _, err := RestoreAggregate(AggregateSnapshot{Type: "probe"}); err == nil {
			t.Error("a probe snapshot without its state restores")
		}
		if _, err := RestoreAggregate(AggregateSnapshot{Type: "probe", State: &StateSnapshot{JSON: []byte("{")}}); err == nil {
			t.Error("a probe snapshot with broken state restores")
		}
		// The three with forms of their own do not read State.
		if _, err := RestoreAggregate(AggregateSnapshot{Type: AggregateRoom, State: s.State}); err == nil {
			t.Error("a room restores from a state snapshot")
		}
	})
}

// A table that names a kind, tag, command type or event type twice does not start.
func TestKindTableRefusesTwins(t *testing.T) {
	room := kinds[0]
	for name, k := range map[string]Kind{
		"name twice":         room,
		"tag twice":          {Name: "x", Stream: StreamChat, SnapshotTag: room.SnapshotTag, New: room.New, Snapshots: room.Snapshots},
		"command type twice": {Name: "x", Stream: StreamChat, SnapshotTag: 201, New: room.New, Snapshots: room.Snapshots, Commands: room.Commands[:1]},
		"event type twice":   {Name: "x", Stream: StreamChat, SnapshotTag: 201, New: room.New, Snapshots: room.Snapshots, Events: room.Events[:1]},
		"no stream":          {Name: "x", SnapshotTag: 201, New: room.New, Snapshots: room.Snapshots},
		"no snapshot tag":    {Name: "x", Stream: StreamChat, New: room.New, Snapshots: room.Snapshots},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: the table was accepted", name)
				}
			}()
			indexKinds(append(append([]Kind(nil), kinds...), k))
		}()
	}
}
