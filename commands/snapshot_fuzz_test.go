package commands

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// canonicalSegment is the state's snapshot as one segment, its entries in id order (a state
// keeps them in a map), so that two states with the same content encode to the same bytes.
func canonicalSegment(t *testing.T, s *PartitionState) []byte {
	t.Helper()
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatalf("snapshot of a decoded state: %v", err)
	}
	byID := func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }
	slices.SortFunc(snap.Entries, func(a, b EntrySnapshot) int {
		ia, _ := a.Aggregate.AggregateID()
		ib, _ := b.Aggregate.AggregateID()
		return byID(ia, ib)
	})
	for _, e := range snap.Entries {
		if r := e.Aggregate.Room; r != nil { // a room keeps these in maps too
			slices.SortFunc(r.Members, func(a, b domain.MemberSnapshot) int { return byID(a.UserID, b.UserID) })
			slices.SortFunc(r.Banned, byID)
			slices.SortFunc(r.Invited, byID)
			slices.SortFunc(r.ReadMarkers, func(a, b domain.MarkerSnapshot) int { return byID(a.UserID, b.UserID) })
			slices.SortFunc(r.Messages, func(a, b domain.MessageSnapshot) int { return byID(a.ID, b.ID) })
		}
	}
	segs, err := snap.Encode(1 << 30)
	if err != nil {
		t.Fatalf("encode a decoded state: %v", err)
	}
	return bytes.Join(segs, nil)
}

// FuzzSnapshotSegment: a partition snapshot segment, as read back from the snapshot topic
// (possibly cut short, corrupt or of another build), either decodes or is refused without a
// panic or an allocation out of proportion to its size; and a state it decodes to encodes to
// bytes that decode to the same state (the encoding of a decoded state is a fixed point).
func FuzzSnapshotSegment(f *testing.F) {
	w := newSnapshotWorld(5)
	s := NewPartitionState()
	var offset int64
	for i := 0; i < 120; i++ {
		w.decide(s, w.command(), &offset)
	}
	snap, err := s.Snapshot()
	if err != nil {
		f.Fatal(err)
	}
	segs, err := snap.Encode(2 << 10)
	if err != nil {
		f.Fatal(err)
	}
	for i, seg := range segs {
		if i < 4 {
			f.Add(seg)
			f.Add(seg[:len(seg)/2])
		}
	}
	// Hostile: counts far beyond the bytes, a huge varint, another format, no magic.
	head := append(snapshotMagic[:], SnapshotFormat)
	tag := func(aggregateType string) byte {
		k, err := domain.KindOf(aggregateType)
		if err != nil {
			f.Fatal(err)
		}
		return k.SnapshotTag
	}
	kindRoom, kindSystem := tag(domain.AggregateRoom), tag(domain.AggregateSystem)
	f.Add(binary.AppendUvarint(append([]byte(nil), head...), 1<<62))
	f.Add(append(append([]byte(nil), head...), 1, kindRoom, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))
	f.Add(append(append([]byte(nil), head...), 1, kindSystem))
	f.Add(append(append([]byte(nil), head...), 0))
	f.Add([]byte("CHS\x02\x00"))
	f.Add([]byte("XYZ\x01\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, seg []byte) {
		if !bytes.HasPrefix(seg, snapshotMagic[:]) && len(seg) > 0 && seg[0]&1 == 1 {
			// Half of what lacks the header gets one, so that mutations reach the entries
			// rather than stop at the magic bytes.
			seg = append(append(append([]byte(nil), head...), 1), seg[1:]...)
		}
		state, err := DecodePartitionSnapshot([][]byte{seg})
		if err != nil {
			return
		}
		enc := canonicalSegment(t, state)
		again, err := DecodePartitionSnapshot([][]byte{enc})
		if len(enc) == 0 { // an empty state encodes to no segment at all
			if state.Aggregates() != 0 {
				t.Fatalf("%.200q: %d aggregates encoded to nothing", seg, state.Aggregates())
			}
			return
		}
		if err != nil {
			t.Fatalf("%.200q decoded, but its re-encoding %.200q does not: %v", seg, enc, err)
		}
		if again.Aggregates() != state.Aggregates() {
			t.Fatalf("%.200q: %d aggregates, re-decoded %d", seg, state.Aggregates(), again.Aggregates())
		}
		if enc2 := canonicalSegment(t, again); !bytes.Equal(enc, enc2) {
			i := 0
			for i < len(enc) && i < len(enc2) && enc[i] == enc2[i] {
				i++
			}
			t.Fatalf("%.200q: re-encoding is not stable from byte %d: %.100q, then %.100q", seg, i, enc[i:], enc2[i:])
		}
	})
}
