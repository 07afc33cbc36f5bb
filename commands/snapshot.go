package commands

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// A partition snapshot is the PartitionState written down: every aggregate's state
// (domain.AggregateSnapshot) and its recent commands with their replies, oldest first, so that a
// restored state answers a retried command with its first result and evicts in the same order.
//
// Encoded form (format SnapshotFormat), one or more self-contained segments, each:
//
//	magic "CHS" + format byte, uvarint entry count, entries
//	entry:  the kind's snapshot tag (domain.Kind.SnapshotTag: 1 room, 2 user, 3 system) and its
//	        fields in the order of the domain snapshot structs (any other kind: its id and the
//	        JSON of its state, domain.StateSnapshot); uvarint reply count, replies oldest first
//	reply:  command id, accepted, code, message, position, events (uvarint n+1; 0 is nil)
//	event:  kind byte 1 (MessageSent at its current schema version: a byte of flags naming the
//	        fields left out because they repeat another, then the rest field by field) or 2 (the
//	        event's log JSON, upcast when read like any event of the log)
//
// with integers as varints, strings and byte strings length-prefixed, uuids as 16 bytes and
// times in time.Time's binary form (which keeps the zone); snapshot_binary.go writes and reads
// these, snapshot_entry.go the entries. It is binary rather than JSON
// because a partition's recent replies hold up to RecentCommands events per aggregate: at a
// million events, decoding them as JSON costs as much as replaying the log. Segments decode in
// parallel.

// SnapshotFormat is the version of the encoded partition snapshot. A reader rejects any other
// (and the partition is rebuilt from the log). 2: a room ends with its department link (a flag,
// then the organization, the department, released, the highest sync's version and part). 3: a
// user ends with the start of their open session (online time; the zero time when offline).
const SnapshotFormat = 3

var snapshotMagic = [3]byte{'C', 'H', 'S'}

// ErrSnapshotFormat: the bytes are not a snapshot of a format this build reads.
var ErrSnapshotFormat = errors.New("unknown snapshot format")

// PartitionSnapshot is a copy of a PartitionState that shares nothing mutable with it: it can be
// encoded in another goroutine while the state goes on deciding.
type PartitionSnapshot struct {
	Entries []EntrySnapshot
	// Events is how many events the state had folded (informational).
	Events int64
}

// EntrySnapshot is one aggregate and its recent commands, oldest first. The replies are the
// state's own: a reply never changes once its command is decided and its position set (Replay
// completes replies only while a state is being rebuilt, before any snapshot of it), so the
// snapshot shares them rather than copy a million of them while the partition waits.
type EntrySnapshot struct {
	Aggregate domain.AggregateSnapshot
	Recent    []*Reply
}

// Snapshot copies the state but for the replies (see EntrySnapshot).
func (s *PartitionState) Snapshot() (*PartitionSnapshot, error) {
	ps := &PartitionSnapshot{Entries: make([]EntrySnapshot, 0, len(s.aggs))}
	for _, e := range s.aggs {
		as, err := domain.SnapshotAggregate(e.agg)
		if err != nil {
			return nil, err
		}
		es := EntrySnapshot{Aggregate: as, Recent: make([]*Reply, 0, len(e.ring))}
		n := len(e.ring)
		for i := 0; i < n; i++ {
			id := e.ring[(e.next+i)%n] // e.next is the oldest once the ring is full, 0 before
			if r, ok := e.recent[id]; ok {
				es.Recent = append(es.Recent, r)
			}
		}
		ps.Entries = append(ps.Entries, es)
	}
	return ps, nil
}

// RestorePartitionState is the state a snapshot was taken of. It shares the snapshot's replies
// (see EntrySnapshot); a takeover decodes a fresh snapshot with DecodePartitionSnapshot instead.
func RestorePartitionState(ps *PartitionSnapshot) (*PartitionState, error) {
	s := NewPartitionState()
	for _, es := range ps.Entries {
		e, err := restoreEntry(es)
		if err != nil {
			return nil, err
		}
		id, _ := es.Aggregate.AggregateID()
		s.aggs[id] = e
	}
	return s, nil
}

func restoreEntry(es EntrySnapshot) (*aggregateEntry, error) {
	agg, err := domain.RestoreAggregate(es.Aggregate)
	if err != nil {
		return nil, err
	}
	if len(es.Recent) > RecentCommands {
		return nil, fmt.Errorf("snapshot: %d recent commands, more than %d", len(es.Recent), RecentCommands)
	}
	e := &aggregateEntry{agg: agg, recent: make(map[uuid.UUID]*Reply, len(es.Recent)), ring: make([]uuid.UUID, 0, len(es.Recent))}
	for _, r := range es.Recent {
		e.remember(r)
	}
	return e, nil
}

// Encode writes the snapshot as segments of about segmentBytes each (a segment holds whole
// aggregates, so one large aggregate makes a larger segment).
func (ps *PartitionSnapshot) Encode(segmentBytes int) ([][]byte, error) {
	var segs [][]byte
	var w encoder
	count := 0
	flush := func() {
		if count == 0 {
			return
		}
		head := make([]byte, 0, 4+binary.MaxVarintLen64+len(w.b))
		head = append(head, snapshotMagic[:]...)
		head = append(head, SnapshotFormat)
		head = binary.AppendUvarint(head, uint64(count))
		segs = append(segs, append(head, w.b...))
		w.b, count = w.b[:0], 0
	}
	for i := range ps.Entries {
		if err := w.entry(&ps.Entries[i]); err != nil {
			return nil, err
		}
		count++
		if len(w.b) >= segmentBytes {
			flush()
		}
	}
	flush()
	return segs, nil
}

// DecodePartitionSnapshot restores the state from the segments Encode wrote, decoding them in
// parallel. It fails on anything it cannot read whole; the caller then rebuilds from the log.
func DecodePartitionSnapshot(segs [][]byte) (*PartitionState, error) {
	d := NewSnapshotDecoder()
	for _, seg := range segs {
		d.Add(seg)
	}
	return d.Finish()
}

// SnapshotDecoder decodes segments as they arrive, on as many goroutines as there are CPUs, so
// that decoding overlaps reading the rest.
type SnapshotDecoder struct {
	work    chan decodeJob
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []segmentResult
	n       int
}

type decodeJob struct {
	i   int
	seg []byte
}

type segmentResult struct {
	ids     []uuid.UUID
	entries []*aggregateEntry
	err     error
}

// NewSnapshotDecoder starts the decoding goroutines; Finish stops them.
func NewSnapshotDecoder() *SnapshotDecoder {
	d := &SnapshotDecoder{work: make(chan decodeJob, 64)}
	for range runtime.GOMAXPROCS(0) {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			for j := range d.work {
				ids, entries, err := decodeSegment(j.seg)
				d.mu.Lock()
				d.results[j.i] = segmentResult{ids, entries, err}
				d.mu.Unlock()
			}
		}()
	}
	return d
}

// Add queues the next segment; seg must not change until Finish returns.
func (d *SnapshotDecoder) Add(seg []byte) {
	d.mu.Lock()
	d.results = append(d.results, segmentResult{})
	d.mu.Unlock()
	d.work <- decodeJob{d.n, seg}
	d.n++
}

// Finish waits for every segment and assembles the state.
func (d *SnapshotDecoder) Finish() (*PartitionState, error) {
	close(d.work)
	d.wg.Wait()
	s := NewPartitionState()
	for i, r := range d.results {
		if r.err != nil {
			return nil, fmt.Errorf("snapshot segment %d: %w", i, r.err)
		}
		for j, id := range r.ids {
			if _, dup := s.aggs[id]; dup {
				return nil, fmt.Errorf("snapshot: aggregate %s twice", id)
			}
			s.aggs[id] = r.entries[j]
		}
	}
	return s, nil
}

func decodeSegment(b []byte) (ids []uuid.UUID, entries []*aggregateEntry, err error) {
	if len(b) < 4 || [3]byte(b[:3]) != snapshotMagic {
		return nil, nil, fmt.Errorf("%w: not a snapshot segment", ErrSnapshotFormat)
	}
	if b[3] != SnapshotFormat {
		return nil, nil, fmt.Errorf("%w: format %d, this build reads %d", ErrSnapshotFormat, b[3], SnapshotFormat)
	}
	d := &decoder{b: b[4:]}
	n := d.count()
	for i := 0; i < n && d.err == nil; i++ {
		es := d.entry()
		if d.err != nil {
			break
		}
		e, err := restoreEntry(es)
		if err != nil {
			return nil, nil, err
		}
		id, _ := es.Aggregate.AggregateID()
		ids = append(ids, id)
		entries = append(entries, e)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes after the last entry", len(d.b))
	}
	if d.err != nil {
		return nil, nil, d.err
	}
	return ids, entries, nil
}
