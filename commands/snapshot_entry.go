package commands

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// The entries of the binary partition snapshot (snapshot.go): an aggregate's state, tagged by
// its kind, and its recent replies with their events.

// Kinds of event in a reply.
const (
	eventMessageSent = 1
	eventJSON        = 2
)

// ownForm are the kinds whose state has a binary form of its own below; every other kind is
// written as its id and JSON state (domain.StateSnapshot).
var ownForm = map[string]bool{domain.AggregateRoom: true, domain.AggregateUser: true, domain.AggregateSystem: true}

func (w *encoder) entry(es *EntrySnapshot) error {
	a := es.Aggregate
	kind, err := domain.KindOf(a.Type)
	if err != nil {
		return fmt.Errorf("snapshot: aggregate of type %q without its state", a.Type)
	}
	w.b = append(w.b, kind.SnapshotTag)
	switch {
	case a.Type == domain.AggregateRoom && a.Room != nil:
		if err := w.room(a.Room); err != nil {
			return err
		}
	case a.Type == domain.AggregateUser && a.User != nil:
		u := a.User
		w.id(u.ID)
		w.varint(u.Version)
		w.bool(u.Registered)
		w.str(u.Username)
		w.str(u.DisplayName)
		w.str(u.Email)
		w.str(u.AvatarURL)
		var since time.Time // zero: offline
		if u.OnlineSince != nil {
			since = *u.OnlineSince
		}
		if err := w.time(since); err != nil {
			return err
		}
	case a.Type == domain.AggregateSystem && a.System != nil:
		s := a.System
		w.id(s.ID)
		w.varint(s.Version)
		w.varint(s.Published)
	case !ownForm[a.Type] && a.State != nil:
		w.id(a.State.ID)
		w.bytes(a.State.JSON)
	default:
		return fmt.Errorf("snapshot: aggregate of type %q without its state", a.Type)
	}
	agg, _ := a.AggregateID()
	w.uvarint(uint64(len(es.Recent)))
	for i := range es.Recent {
		if err := w.reply(agg, es.Recent[i]); err != nil {
			return err
		}
	}
	return nil
}

func (w *encoder) room(r *domain.RoomSnapshot) error {
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
	// Format 2: a department room's link.
	w.bool(r.Department != nil)
	if r.Department != nil {
		w.id(r.Department.OrgID)
		w.id(r.Department.DepartmentID)
		w.bool(r.Released)
		w.varint(r.SyncVersion)
		w.varint(int64(r.SyncPart))
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
	// A delegate's message (acting_id) is rare enough to go as JSON, which keeps every field.
	if ms, ok := ev.Data.(domain.MessageSent); ok && ev.SchemaVersion == domain.SchemaVersion(domain.TypeMessageSent) && ev.ActingID == nil {
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
		if m.CreatedAt == ev.OccurredAt { //nolint:staticcheck // == on purpose: the flag stands for the very same value, location included, which the decoder restores
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

func (d *decoder) entry() EntrySnapshot {
	var es EntrySnapshot
	k := d.byte1()
	kind := domain.KindOfSnapshotTag(k)
	if kind == nil {
		d.fail(fmt.Errorf("snapshot: unknown aggregate kind %d", k))
		return es
	}
	switch kind.Name {
	case domain.AggregateRoom:
		es.Aggregate = domain.AggregateSnapshot{Type: domain.AggregateRoom, Room: d.room()}
	case domain.AggregateUser:
		u := &domain.UserSnapshot{ID: d.id(), Version: d.varint(), Registered: d.bool()}
		u.Username, u.DisplayName, u.Email, u.AvatarURL = d.str(), d.str(), d.str(), d.str()
		if since := d.time(); !since.IsZero() {
			u.OnlineSince = &since
		}
		es.Aggregate = domain.AggregateSnapshot{Type: domain.AggregateUser, User: u}
	case domain.AggregateSystem:
		s := &domain.SystemSnapshot{ID: d.id(), Version: d.varint(), Published: d.varint()}
		es.Aggregate = domain.AggregateSnapshot{Type: domain.AggregateSystem, System: s}
	default:
		s := &domain.StateSnapshot{ID: d.id()}
		s.JSON = bytes.Clone(d.raw(d.count())) // the segment's bytes are the caller's
		es.Aggregate = domain.AggregateSnapshot{Type: kind.Name, State: s}
	}
	agg, _ := es.Aggregate.AggregateID()
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
	if d.bool() {
		r.Department = &domain.RoomDepartment{OrgID: d.id(), DepartmentID: d.id()}
		r.Released, r.SyncVersion, r.SyncPart = d.bool(), d.varint(), int(d.varint())
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
