package commands

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// goldenState is one aggregate of each kind, with replies of both event forms, from fixed ids
// and times.
func goldenState(t *testing.T) *PartitionState {
	t.Helper()
	at := time.Date(2025, 4, 10, 12, 0, 0, 0, time.UTC)
	id := func(n byte) uuid.UUID { return uuid.UUID{0x0e, 15: n} }
	alice := domain.UserIDFor("alice")
	room := id(1)
	link := domain.RoomDepartment{OrgID: id(2), DepartmentID: id(3)}
	deptRoom := domain.DepartmentRoomIDFor(link.OrgID, link.DepartmentID)
	s := NewPartitionState()
	for i, p := range []struct {
		agg   uuid.UUID
		actor uuid.UUID
		p     domain.CommandData
	}{
		{alice, alice, domain.RegisterUser{Username: "alice", DisplayName: "Alice"}},
		{domain.SystemAggregateID, alice, domain.PublishSystemEvent{Kind: domain.SystemMaintenance, Message: "m"}},
		{room, alice, domain.CreateRoom{Name: "r"}},
		{room, alice, domain.SendMessage{Content: "hi", ClientMsgID: "c"}},
		{deptRoom, domain.SystemActorID, domain.CreateRoom{Name: "d", Department: &link}},
		{deptRoom, domain.SystemActorID, domain.SyncDepartmentRoom{SourceVersion: 9, Part: 1,
			Add: []domain.ManagedMember{{UserID: alice, Username: "alice"}}}},
		{alice, domain.SystemActorID, domain.RecordPresence{Online: true, At: at.Add(-time.Hour)}},
	} {
		d := s.Decide(domain.NewCommand(id(byte(0x10+i)), p.agg, p.actor, "alice", at, p.p), at)
		if !d.Reply.Accepted {
			t.Fatalf("%T: %s", p.p, d.Reply.Message)
		}
		d.Reply.Position = domain.Position{Topic: "t", Partition: 0, Offset: int64(i)}.String()
	}
	return s
}

// goldenBytes is the canonical segment of s (canonicalSegment) less the events of its replies
// but for MessageSent, the one event with a form of its own (the others are their log JSON).
func goldenBytes(t *testing.T, s *PartitionState) []byte {
	t.Helper()
	ps, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for i := range ps.Entries {
		e := &ps.Entries[i]
		for j, r := range e.Recent {
			if len(r.Events) > 0 && r.Events[0].Type != domain.TypeMessageSent {
				bare := *r
				bare.Events = nil
				e.Recent[j] = &bare
			}
		}
	}
	back, err := RestorePartitionState(ps)
	if err != nil {
		t.Fatal(err)
	}
	return canonicalSegment(t, back)
}

// The partition snapshot's bytes stay what they are: snapshots written by earlier builds are
// read by later ones (a change of form raises SnapshotFormat instead). One aggregate of each
// kind pins the kinds' tags and fields.
func TestSnapshotBytesAreStable(t *testing.T) {
	if got := hex.EncodeToString(goldenBytes(t, goldenState(t))); got != goldenSegment {
		t.Fatalf("segment\n%s\nwant\n%s", got, goldenSegment)
	}
	s, err := DecodePartitionSnapshot([][]byte{mustHex(t, goldenSegment)})
	if err != nil || s.Aggregates() != 4 {
		t.Fatalf("golden segment: %v", err)
	}
	if got := hex.EncodeToString(canonicalSegment(t, s)); got != goldenSegment {
		t.Fatalf("golden segment decodes to a state that encodes as\n%s", got)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A segment of format 1 (before department rooms) is refused: the partition is rebuilt from
// the log instead of reading rooms without their department link.
func TestSnapshotOfFormatOneIsRefused(t *testing.T) {
	if _, err := DecodePartitionSnapshot([][]byte{mustHex(t, goldenSegmentFormat1)}); !errors.Is(err, ErrSnapshotFormat) {
		t.Fatalf("format 1 segment: %v, want ErrSnapshotFormat", err)
	}
}

// A segment of format 2 (before online time) is refused: a user's open session would be lost.
func TestSnapshotOfFormatTwoIsRefused(t *testing.T) {
	if _, err := DecodePartitionSnapshot([][]byte{mustHex(t, goldenSegmentFormat2)}); !errors.Is(err, ErrSnapshotFormat) {
		t.Fatalf("format 2 segment: %v, want ErrSnapshotFormat", err)
	}
}

// goldenSegment is what every build since format 3 (a user's open session) writes.
const goldenSegment = "" +
	"434853030403000000000000000000000000000000020202010e000000000000000000000000000011010000" +
	"05743a303a3100010e0000000000000000000000000000010601000172007d5c30c9bfef59c5905bc730b889" +
	"ef7700000f010000000edf89a9c000000000ffff017d5c30c9bfef59c5905bc730b889ef77056f776e657205" +
	"616c696365010000000201987d16a8579e518bb0d6bb7109dc68027d5c30c9bfef59c5905bc730b889ef7702" +
	"0474657874000f010000000edf89a9c000000000ffff0000020e000000000000000000000000000012010000" +
	"05743a303a32000e00000000000000000000000000001301000005743a303a3302017fee153667f37b537684" +
	"4f6ff7ac1d3d9f060f010000000edf89a9c000000000ffff7d5c30c9bfef59c5905bc730b889ef7702987d16" +
	"a8579e518bb0d6bb7109dc680202686904746578740002016301196f0ffb6f665d1aafac0ff4360942e00801" +
	"000164000000000000000000000000000000000101000f010000000edf89a9c000000000ffff017d5c30c9bf" +
	"ef59c5905bc730b889ef77066d656d62657205616c696365010000000000010e000000000000000000000000" +
	"0000020e000000000000000000000000000003001202020e0000000000000000000000000000140100000574" +
	"3a303a34000e00000000000000000000000000001501000005743a303a3500027d5c30c9bfef59c5905bc730" +
	"b889ef77040105616c69636505416c69636500000f010000000edf899bb000000000ffff020e000000000000" +
	"00000000000000001001000005743a303a30000e00000000000000000000000000001601000005743a303a36" +
	"00"

// goldenSegmentFormat2 was written by the builds of format 2 (a room's department link).
const goldenSegmentFormat2 = "" +
	"434853020403000000000000000000000000000000020202010e000000000000000000000000000011010000" +
	"05743a303a3100010e0000000000000000000000000000010601000172007d5c30c9bfef59c5905bc730b889" +
	"ef7700000f010000000edf89a9c000000000ffff017d5c30c9bfef59c5905bc730b889ef77056f776e657205" +
	"616c696365010000000201987d16a8579e518bb0d6bb7109dc68027d5c30c9bfef59c5905bc730b889ef7702" +
	"0474657874000f010000000edf89a9c000000000ffff0000020e000000000000000000000000000012010000" +
	"05743a303a32000e00000000000000000000000000001301000005743a303a3302017fee153667f37b537684" +
	"4f6ff7ac1d3d9f060f010000000edf89a9c000000000ffff7d5c30c9bfef59c5905bc730b889ef7702987d16" +
	"a8579e518bb0d6bb7109dc680202686904746578740002016301196f0ffb6f665d1aafac0ff4360942e00801" +
	"000164000000000000000000000000000000000101000f010000000edf89a9c000000000ffff017d5c30c9bf" +
	"ef59c5905bc730b889ef77066d656d62657205616c696365010000000000010e000000000000000000000000" +
	"0000020e000000000000000000000000000003001202020e0000000000000000000000000000140100000574" +
	"3a303a34000e00000000000000000000000000001501000005743a303a3500027d5c30c9bfef59c5905bc730" +
	"b889ef77020105616c69636505416c6963650000010e00000000000000000000000000001001000005743a30" +
	"3a3000"

// goldenSegmentFormat1 was written by the builds of format 1, from the first three aggregates.
const goldenSegmentFormat1 = "" +
	"434853010303000000000000000000000000000000020202010e000000000000000000000000000011010000" +
	"05743a303a3100010e0000000000000000000000000000010601000172007d5c30c9bfef59c5905bc730b889" +
	"ef7700000f010000000edf89a9c000000000ffff017d5c30c9bfef59c5905bc730b889ef77056f776e657205" +
	"616c696365010000000201987d16a8579e518bb0d6bb7109dc68027d5c30c9bfef59c5905bc730b889ef7702" +
	"0474657874000f010000000edf89a9c000000000ffff00020e00000000000000000000000000001201000005" +
	"743a303a32000e00000000000000000000000000001301000005743a303a3302017fee153667f37b5376844f" +
	"6ff7ac1d3d9f060f010000000edf89a9c000000000ffff7d5c30c9bfef59c5905bc730b889ef7702987d16a8" +
	"579e518bb0d6bb7109dc6802026869047465787400020163027d5c30c9bfef59c5905bc730b889ef77020105" +
	"616c69636505416c6963650000010e00000000000000000000000000001001000005743a303a3000"
