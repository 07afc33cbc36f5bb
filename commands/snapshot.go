package commands

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

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
//	entry:  aggregate kind byte (1 room, 2 user, 3 system) and its fields in the order of the
//	        domain snapshot structs; uvarint reply count, replies oldest first
//	reply:  command id, accepted, code, message, position, events (uvarint n+1; 0 is nil)
//	event:  kind byte 1 (MessageSent at its current schema version: a byte of flags naming the
//	        fields left out because they repeat another, then the rest field by field) or 2 (the
//	        event's log JSON, upcast when read like any event of the log)
//
// with integers as varints, strings and byte strings length-prefixed, uuids as 16 bytes and
// times in time.Time's binary form (which keeps the zone). It is binary rather than JSON
// because a partition's recent replies hold up to RecentCommands events per aggregate: at a
// million events, decoding them as JSON costs as much as replaying the log. Segments decode in
// parallel.

// SnapshotFormat is the version of the encoded partition snapshot. A reader rejects any other.
const SnapshotFormat = 1

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
		id, _ := entryID(es.Aggregate)
		s.aggs[id] = e
	}
	return s, nil
}

func entryID(a domain.AggregateSnapshot) (uuid.UUID, bool) {
	switch {
	case a.Room != nil:
		return a.Room.ID, true
	case a.User != nil:
		return a.User.ID, true
	case a.System != nil:
		return a.System.ID, true
	}
	return uuid.Nil, false
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
		id, _ := entryID(es.Aggregate)
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

// ---- encoding ----

type encoder struct{ b []byte }

func (w *encoder) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *encoder) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *encoder) id(v uuid.UUID)   { w.b = append(w.b, v[:]...) }
func (w *encoder) str(s string)     { w.uvarint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *encoder) bytes(s []byte)   { w.uvarint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *encoder) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}
func (w *encoder) optID(v *uuid.UUID) {
	w.bool(v != nil)
	if v != nil {
		w.id(*v)
	}
}
func (w *encoder) time(t time.Time) error {
	b, err := t.MarshalBinary()
	if err != nil {
		return fmt.Errorf("snapshot time: %w", err)
	}
	w.bytes(b)
	return nil
}

const (
	kindRoom   = 1
	kindUser   = 2
	kindSystem = 3

	eventMessageSent = 1
	eventJSON        = 2
)

func (w *encoder) entry(es *EntrySnapshot) error {
	a := es.Aggregate
	switch {
	case a.Type == domain.AggregateRoom && a.Room != nil:
		if err := w.room(a.Room); err != nil {
			return err
		}
	case a.Type == domain.AggregateUser && a.User != nil:
		u := a.User
		w.b = append(w.b, kindUser)
		w.id(u.ID)
		w.varint(u.Version)
		w.bool(u.Registered)
		w.str(u.Username)
		w.str(u.DisplayName)
		w.str(u.Email)
		w.str(u.AvatarURL)
	case a.Type == domain.AggregateSystem && a.System != nil:
		s := a.System
		w.b = append(w.b, kindSystem)
		w.id(s.ID)
		w.varint(s.Version)
		w.varint(s.Published)
	default:
		return fmt.Errorf("snapshot: aggregate of type %q without its state", a.Type)
	}
	agg, _ := entryID(a)
	w.uvarint(uint64(len(es.Recent)))
	for i := range es.Recent {
		if err := w.reply(agg, es.Recent[i]); err != nil {
			return err
		}
	}
	return nil
}

func (w *encoder) room(r *domain.RoomSnapshot) error {
	w.b = append(w.b, kindRoom)
	w.id(r.ID)
	w.varint(r.Version)
	w.bool(r.Created)
	w.bool(r.Deleted)
	w.str(r.Name)
	w.str(r.Description)
	w.id(r.OwnerID)
	w.bool(r.IsPrivate)
	w.str(r.PasswordHash)
	if err := w.time(r.CreatedAt); err != nil {
		return err
	}
	w.uvarint(uint64(len(r.Members)))
	for _, m := range r.Members {
		w.id(m.UserID)
		w.str(m.Role)
		w.str(m.Username)
		w.bool(m.HasName)
	}
	w.uvarint(uint64(len(r.Banned)))
	for _, id := range r.Banned {
		w.id(id)
	}
	w.uvarint(uint64(len(r.Invited)))
	for _, id := range r.Invited {
		w.id(id)
	}
	w.uvarint(uint64(len(r.ReadMarkers)))
	for _, m := range r.ReadMarkers {
		w.id(m.UserID)
		w.varint(m.Seq)
	}
	w.varint(r.LastSeq)
	w.uvarint(uint64(len(r.Messages)))
	for _, m := range r.Messages {
		w.id(m.ID)
		w.id(m.SenderID)
		w.varint(m.Seq)
		w.str(m.MessageType)
		w.optID(m.ReplyTo)
		if err := w.time(m.CreatedAt); err != nil {
			return err
		}
		w.bool(m.Deleted)
	}
	return nil
}

func (w *encoder) reply(agg uuid.UUID, r *Reply) error {
	w.id(r.CommandID)
	w.bool(r.Accepted)
	w.str(r.Code)
	w.str(r.Message)
	w.str(r.Position)
	if r.Events == nil {
		w.uvarint(0)
		return nil
	}
	w.uvarint(uint64(len(r.Events)) + 1)
	for i := range r.Events {
		if err := w.event(agg, r.CommandID, &r.Events[i]); err != nil {
			return err
		}
	}
	return nil
}

// Flags of a MessageSent: which fields are left out because they repeat another.
const (
	sameAggregate   = 1 << iota // Event.AggregateID is the entry's aggregate
	sameRoom                    // MessageSent.RoomID too
	sameMessageRoom             // MessageData.RoomID too
	sameCommand                 // Event.CommandID is the reply's command
	sameSender                  // MessageData.SenderID is Event.ActorID
	sameTime                    // MessageData.CreatedAt is Event.OccurredAt
	usualTypes                  // Type MessageSent, AggregateType room
)

// event writes a MessageSent, by far the most frequent event, field by field (less what repeats
// other fields), and any other event as the JSON it has in the log.
func (w *encoder) event(agg, cmd uuid.UUID, ev *domain.Event) error {
	// Field by field only at the current schema version of MessageSent: the decoder rejects any
	// other, so that a snapshot never hides a change of the event's shape.
	if ms, ok := ev.Data.(domain.MessageSent); ok && ev.SchemaVersion == domain.SchemaVersion(domain.TypeMessageSent) {
		m := ms.Message
		var f byte
		if ev.AggregateID == agg {
			f |= sameAggregate
		}
		if ms.RoomID == agg {
			f |= sameRoom
		}
		if m.RoomID == agg {
			f |= sameMessageRoom
		}
		if ev.CommandID == cmd {
			f |= sameCommand
		}
		if m.SenderID == ev.ActorID {
			f |= sameSender
		}
		if m.CreatedAt == ev.OccurredAt {
			f |= sameTime
		}
		if ev.Type == domain.TypeMessageSent && ev.AggregateType == domain.AggregateRoom {
			f |= usualTypes
		}
		w.b = append(w.b, eventMessageSent, f)
		w.id(ev.ID)
		if f&usualTypes == 0 {
			w.str(ev.Type)
			w.str(ev.AggregateType)
		}
		if f&sameAggregate == 0 {
			w.id(ev.AggregateID)
		}
		w.varint(ev.Version)
		if err := w.time(ev.OccurredAt); err != nil {
			return err
		}
		w.id(ev.ActorID)
		if f&sameCommand == 0 {
			w.id(ev.CommandID)
		}
		w.varint(int64(ev.SchemaVersion))
		if f&sameRoom == 0 {
			w.id(ms.RoomID)
		}
		w.id(m.ID)
		if f&sameMessageRoom == 0 {
			w.id(m.RoomID)
		}
		if f&sameSender == 0 {
			w.id(m.SenderID)
		}
		w.str(m.Content)
		w.str(m.MessageType)
		w.optID(m.ReplyToMessageID)
		w.varint(m.Seq)
		w.str(m.ClientMsgID)
		if f&sameTime == 0 {
			return w.time(m.CreatedAt)
		}
		return nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("snapshot event: %w", err)
	}
	w.b = append(w.b, eventJSON)
	w.bytes(b)
	return nil
}

// ---- decoding ----

// decoder reads what encoder wrote; the first error sticks and every later read returns zero.
type decoder struct {
	b   []byte
	err error
}

var errTruncated = errors.New("snapshot truncated")

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length and bounds it by what is left (every element takes at least a byte),
// so that a corrupt length cannot make us allocate without limit.
func (d *decoder) count() int {
	v := d.uvarint()
	if v > uint64(len(d.b)) || v > math.MaxInt32 {
		d.fail(errTruncated)
		return 0
	}
	return int(v)
}

func (d *decoder) raw(n int) []byte {
	if n > len(d.b) {
		d.fail(errTruncated)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1() byte {
	if len(d.b) < 1 {
		d.fail(errTruncated)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bool() bool { return d.byte1() != 0 }

func (d *decoder) id() uuid.UUID {
	var v uuid.UUID
	copy(v[:], d.raw(16))
	return v
}

func (d *decoder) optID() *uuid.UUID {
	if !d.bool() {
		return nil
	}
	v := d.id()
	return &v
}

func (d *decoder) str() string { return intern(d.raw(d.count())) }

func (d *decoder) time() time.Time {
	var t time.Time
	b := d.raw(d.count())
	if d.err == nil {
		if err := t.UnmarshalBinary(b); err != nil {
			d.fail(fmt.Errorf("snapshot time: %w", err))
		}
	}
	return t
}

// intern returns the constants that most strings of a snapshot are without allocating them.
func intern(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case domain.TypeMessageSent:
		return domain.TypeMessageSent
	case domain.AggregateRoom:
		return domain.AggregateRoom
	case domain.MessageText:
		return domain.MessageText
	case domain.RoleMember:
		return domain.RoleMember
	}
	return string(b)
}

func (d *decoder) entry() EntrySnapshot {
	var es EntrySnapshot
	switch k := d.byte1(); k {
	case kindRoom:
		es.Aggregate = domain.AggregateSnapshot{Type: domain.AggregateRoom, Room: d.room()}
	case kindUser:
		u := &domain.UserSnapshot{ID: d.id(), Version: d.varint(), Registered: d.bool()}
		u.Username, u.DisplayName, u.Email, u.AvatarURL = d.str(), d.str(), d.str(), d.str()
		es.Aggregate = domain.AggregateSnapshot{Type: domain.AggregateUser, User: u}
	case kindSystem:
		s := &domain.SystemSnapshot{ID: d.id(), Version: d.varint(), Published: d.varint()}
		es.Aggregate = domain.AggregateSnapshot{Type: domain.AggregateSystem, System: s}
	default:
		d.fail(fmt.Errorf("snapshot: unknown aggregate kind %d", k))
		return es
	}
	agg, _ := entryID(es.Aggregate)
	n := d.count()
	replies := make([]Reply, n) // one allocation for the entry's replies
	es.Recent = make([]*Reply, n)
	for i := 0; i < n && d.err == nil; i++ {
		d.reply(agg, &replies[i])
		es.Recent[i] = &replies[i]
	}
	return es
}

func (d *decoder) room() *domain.RoomSnapshot {
	r := &domain.RoomSnapshot{ID: d.id(), Version: d.varint(), Created: d.bool(), Deleted: d.bool()}
	r.Name, r.Description = d.str(), d.str()
	r.OwnerID, r.IsPrivate, r.PasswordHash = d.id(), d.bool(), d.str()
	r.CreatedAt = d.time()
	if n := d.count(); n > 0 {
		r.Members = make([]domain.MemberSnapshot, n)
		for i := range r.Members {
			r.Members[i] = domain.MemberSnapshot{UserID: d.id(), Role: d.str(), Username: d.str(), HasName: d.bool()}
		}
	}
	if n := d.count(); n > 0 {
		r.Banned = make([]uuid.UUID, n)
		for i := range r.Banned {
			r.Banned[i] = d.id()
		}
	}
	if n := d.count(); n > 0 {
		r.Invited = make([]uuid.UUID, n)
		for i := range r.Invited {
			r.Invited[i] = d.id()
		}
	}
	if n := d.count(); n > 0 {
		r.ReadMarkers = make([]domain.MarkerSnapshot, n)
		for i := range r.ReadMarkers {
			r.ReadMarkers[i] = domain.MarkerSnapshot{UserID: d.id(), Seq: d.varint()}
		}
	}
	r.LastSeq = d.varint()
	if n := d.count(); n > 0 {
		r.Messages = make([]domain.MessageSnapshot, n)
		for i := range r.Messages {
			r.Messages[i] = domain.MessageSnapshot{ID: d.id(), SenderID: d.id(), Seq: d.varint(), MessageType: d.str(),
				ReplyTo: d.optID(), CreatedAt: d.time(), Deleted: d.bool()}
		}
	}
	return r
}

func (d *decoder) reply(agg uuid.UUID, r *Reply) {
	r.CommandID, r.Accepted = d.id(), d.bool()
	r.Code, r.Message, r.Position = d.str(), d.str(), d.str()
	n := d.uvarint() // events + 1; 0 is nil
	if n == 0 {
		return
	}
	if n-1 > uint64(len(d.b)) {
		d.fail(errTruncated)
		return
	}
	r.Events = make([]domain.Event, n-1)
	for i := range r.Events {
		d.event(agg, r.CommandID, &r.Events[i])
	}
}

func (d *decoder) event(agg, cmd uuid.UUID, ev *domain.Event) {
	switch k := d.byte1(); k {
	case eventMessageSent:
		f := d.byte1()
		pick := func(bit byte, same uuid.UUID) uuid.UUID {
			if f&bit != 0 {
				return same
			}
			return d.id()
		}
		ev.ID = d.id()
		ev.Type, ev.AggregateType = domain.TypeMessageSent, domain.AggregateRoom
		if f&usualTypes == 0 {
			ev.Type, ev.AggregateType = d.str(), d.str()
		}
		ev.AggregateID = pick(sameAggregate, agg)
		ev.Version, ev.OccurredAt, ev.ActorID = d.varint(), d.time(), d.id()
		ev.CommandID = pick(sameCommand, cmd)
		ev.SchemaVersion = int(d.varint())
		if cur := domain.SchemaVersion(domain.TypeMessageSent); ev.SchemaVersion != cur && d.err == nil {
			d.fail(fmt.Errorf("%w: MessageSent at schema version %d, this build writes %d", ErrSnapshotFormat, ev.SchemaVersion, cur))
			return
		}
		var ms domain.MessageSent
		ms.RoomID = pick(sameRoom, agg)
		m := &ms.Message
		m.ID = d.id()
		m.RoomID = pick(sameMessageRoom, agg)
		m.SenderID = pick(sameSender, ev.ActorID)
		m.Content, m.MessageType = d.str(), d.str()
		m.ReplyToMessageID, m.Seq, m.ClientMsgID = d.optID(), d.varint(), d.str()
		m.CreatedAt = ev.OccurredAt
		if f&sameTime == 0 {
			m.CreatedAt = d.time()
		}
		ev.Data = ms
	case eventJSON:
		b := d.raw(d.count())
		if d.err == nil {
			if err := json.Unmarshal(b, ev); err != nil {
				d.fail(fmt.Errorf("snapshot event: %w", err))
			}
		}
	default:
		d.fail(fmt.Errorf("snapshot: unknown event kind %d", k))
	}
}
