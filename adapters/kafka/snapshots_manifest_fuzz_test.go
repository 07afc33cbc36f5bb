package kafka

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/chorus-chat/chorus/commands"
)

// FuzzSnapshotManifest: a snapshot manifest read back from the snapshot topic (at offset off)
// either is refused by check, or describes chunks that lie between its first offset and itself
// and whose layout assigns every chunk to exactly one segment, in order; and it survives a
// re-encode unchanged. A takeover restores from it, so a corrupt one must not panic the
// processor or make it allocate for chunks that cannot exist.
func FuzzSnapshotManifest(f *testing.F) {
	good, err := json.Marshal(snapshotManifest{Format: commands.SnapshotFormat, Generation: "g1", Partition: 3,
		Offsets: map[string]int64{"chat-events": 41}, Events: 9, FirstOffset: 10, Chunks: 5, Segments: []int{2, 3},
		Bytes: 1 << 20, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, int64(16))
	f.Add(good, int64(14)) // five chunks cannot lie in [10, 14)
	f.Add([]byte(`{"format":1,"first_offset":0,"chunks":1,"segments":[2,-1]}`), int64(5))
	f.Add([]byte(`{"format":1,"first_offset":0,"chunks":0,"segments":[0]}`), int64(5))
	f.Add([]byte(`{"format":1,"first_offset":0,"chunks":1099511627776,"segments":[1099511627776]}`), int64(9223372036854775807))
	f.Add([]byte(`{"format":1,"first_offset":0,"chunks":4611686018427387904,"segments":[4611686018427387904,4611686018427387904,4611686018427387904,4611686018427387904,4611686018427387904]}`), int64(9223372036854775807))
	f.Add([]byte(`{"format":1,"first_offset":-1,"chunks":0,"segments":[]}`), int64(0))
	f.Add([]byte(`{"format":2,"chunks":0}`), int64(1))
	f.Add([]byte(`{"format":1,"chunks":1e400}`), int64(1))
	f.Add([]byte(`null`), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, off int64) {
		var m snapshotManifest
		if err := json.Unmarshal(b, &m); err != nil {
			return
		}
		if err := m.check(off); err != nil {
			return
		}
		if m.Chunks < 0 || m.FirstOffset < 0 || int64(m.Chunks) > off-m.FirstOffset {
			t.Fatalf("%q at offset %d: %d chunks from offset %d passed check", b, off, m.Chunks, m.FirstOffset)
		}
		if m.Chunks > 1<<20 {
			return // a real layout, too large to build on every run
		}
		segOf, segStart := m.layout()
		if len(segOf) != m.Chunks || len(segStart) != len(m.Segments) {
			t.Fatalf("%q: layout of %d chunks in %d segments: %d, %d", b, m.Chunks, len(m.Segments), len(segOf), len(segStart))
		}
		for i, si := range segOf {
			if si < 0 || si >= len(m.Segments) || i < segStart[si] || i >= segStart[si]+m.Segments[si] {
				t.Fatalf("%q: chunk %d placed in segment %d (%v, %v)", b, i, si, segOf, segStart)
			}
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var m2 snapshotManifest
		err = json.Unmarshal(again, &m2)
		if m2.CreatedAt.Equal(m.CreatedAt) {
			m2.CreatedAt = m.CreatedAt // the same instant; only the zone's name may differ
		}
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("%q re-encodes as %s, which decodes to %+v (%v)", b, again, m2, err)
		}
		if err := m2.check(off); err != nil {
			t.Fatalf("%q passed check, its re-encoding %s does not: %v", b, again, err)
		}
	})
}
