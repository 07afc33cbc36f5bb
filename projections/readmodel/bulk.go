package readmodel

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/projtx"
)

// Kinds of room_message_changes rows.
const (
	changeSent    = "sent"
	changeUpdated = "updated"
	changeDeleted = "deleted"
)

// bulk applies a batch's messages, edits, deletions and read markers (nearly all of a busy log)
// in a handful of statements over arrays rather than a statement per event: measured, that is what
// takes a rebuild (and a busy live projector) from ~20k to well over 50k events/s (see
// docs/benchmarks.md). Every other event gets its statements from queueEvent, in log order.
//
// Reordering is safe where it happens, because of what each statement touches:
//   - sent messages go in as one statement when the batch ends, or earlier, just before a
//     UserJoinedRoom (whose read marker starts at the last message sent before it, found in the
//     change log). Nothing else reads or writes messages or their change log.
//   - edits and deletions go after every message of the batch is in: all edits (the last edit
//     of each message wins, as it would one after the other), then all deletions (a message is
//     never edited after it is deleted, so only that order occurs). Their change-log entries are
//     keyed by the event's version and go in together.
//   - consecutive joins go in as two statements (joinRun), queued before the next event that is
//     not gathered here.
//   - registrations go in as three statements for a run of them (users, credentials, dropped
//     attempts), just before the next profile update (the one event that changes a user row)
//     or at the end: nothing else reads or writes those tables.
//   - read markers only ever grow: they go as one statement with each member's highest, after
//     every other event of the batch. Only a member moves a marker, so its join came first, in
//     this batch or an earlier one; and a later leave drops the row (the marker meets nothing),
//     while a later rejoin starts the marker at the room's last message, which is at or past
//     any marker before it.
//
// With copyMessages (a generation being rebuilt, whose tables hold nothing past its checkpoint)
// the batch's messages and their change-log entries go in by COPY, before every other statement
// of the batch: several times cheaper for Postgres than an INSERT that checks for conflicts. The
// edits and deletions of messages sent in the same batch are applied to the copied rows instead
// of updating them after (foldIntoCopy), and every change-log entry of the batch (edits and
// deletions too) goes in the same COPY; nothing else reads them within a batch. A
// join then already sees the messages sent after it, which its read marker's query leaves out
// (it looks only below the join's version). COPY cannot skip a row that exists: if one does (a
// log with the same message twice, which the live projection would have kept once), the batch
// fails with a unique violation and is applied again without COPY (ApplyBatchIn).
type bulk struct {
	copyMessages bool
	touched      map[uuid.UUID]roomTouch

	sent    messageRun
	edits   map[uuid.UUID]int // message id → index in editRows: the last edit wins
	editRow struct {
		ids      projtx.UUIDs
		contents []string
		at       []time.Time
	}
	deleted projtx.UUIDs
	changes changeRows
	markers map[memberKey]int64
	regs    registrations
	joins   joinRun
}

type memberKey struct{ room, user uuid.UUID }

// changeRows are change-log entries of edits and deletions.
type changeRows struct {
	rooms, messages projtx.UUIDs
	versions, seqs  []int64
	kinds           []string
}

func newBulk(copyMessages bool) *bulk {
	return &bulk{copyMessages: copyMessages, touched: make(map[uuid.UUID]roomTouch)}
}

// add queues r's effects: in bulk, or (after ending the runs that must come first) one by one.
func (b *bulk) add(st *checkpoint.Statements, r Record) {
	switch d := r.Event.Data.(type) {
	case domain.MessageSent:
		b.sent.add(r, d, b.touched)
		return
	case domain.MessageUpdated:
		if b.edits == nil {
			b.edits = make(map[uuid.UUID]int)
		}
		i, ok := b.edits[d.MessageID]
		if !ok {
			i = len(b.editRow.ids)
			b.edits[d.MessageID] = i
			b.editRow.ids, b.editRow.contents, b.editRow.at = append(b.editRow.ids, d.MessageID), append(b.editRow.contents, ""), append(b.editRow.at, time.Time{})
		}
		b.editRow.contents[i], b.editRow.at[i] = d.NewContent, d.UpdatedAt
		b.change(d.RoomID, r.Event.Version, changeUpdated, d.MessageID, d.Seq)
		return
	case domain.MessageDeleted:
		b.deleted = append(b.deleted, d.MessageID)
		b.change(d.RoomID, r.Event.Version, changeDeleted, d.MessageID, d.Seq)
		return
	case domain.ReadMarkerUpdated:
		if b.markers == nil {
			b.markers = make(map[memberKey]int64)
		}
		k := memberKey{d.RoomID, d.UserID}
		b.markers[k] = max(b.markers[k], d.Seq)
		return
	case domain.UserRegistered:
		b.regs.add(r, d)
		return
	case domain.UserProfileUpdated:
		b.regs.flush(st) // the profile applies to the registered row
	case domain.UserJoinedRoom:
		if !b.copyMessages {
			b.sent.flush(st)
		}
		b.joins.add(r, d)
		return
	}
	b.joins.flush(st)
	st.Describe(r, queueEvent(&st.Batch, r.Event))
}

func (b *bulk) change(room uuid.UUID, version int64, kind string, message uuid.UUID, seq int64) {
	c := &b.changes
	c.rooms, c.versions, c.kinds, c.messages, c.seqs = append(c.rooms, room), append(c.versions, version), append(c.kinds, kind), append(c.messages, message), append(c.seqs, seq)
}

// foldIntoCopy applies, with copyMessages, the batch's edits and deletions of messages sent in
// the same batch to the rows about to be copied, and drops them from the statements that would
// update those rows after the COPY: most edits and deletions come soon after their message, so a
// rebuild's batch finds nearly all of them there, and updating a row just copied costs Postgres a
// second version of it and its index entries. The rows end the same: the last edit's content and
// time (the UPDATE's "last edit wins"), then a deletion's mark and empty content, in the order the
// statements apply them (a message is never edited after it is deleted). Their change-log entries
// go into the same COPY as the sent ones (copy).
func (b *bulk) foldIntoCopy() {
	if len(b.editRow.ids) == 0 && len(b.deleted) == 0 {
		return
	}
	var deleted map[uuid.UUID]bool
	if len(b.deleted) > 0 {
		deleted = make(map[uuid.UUID]bool, len(b.deleted))
		for _, id := range b.deleted {
			deleted[id] = false // true once found among the batch's messages
		}
	}
	e := &b.editRow
	folded := make([]bool, len(e.ids))
	m := &b.sent
	for i, id := range m.ids {
		if j, ok := b.edits[id]; ok {
			m.edit(i, e.contents[j], e.at[j])
			folded[j] = true
		}
		if _, ok := deleted[id]; ok {
			m.delete(i)
			deleted[id] = true
		}
	}
	kept := 0
	for j := range e.ids {
		if !folded[j] {
			e.ids[kept], e.contents[kept], e.at[kept] = e.ids[j], e.contents[j], e.at[j]
			kept++
		}
	}
	e.ids, e.contents, e.at = e.ids[:kept], e.contents[:kept], e.at[:kept]
	b.deleted = slices.DeleteFunc(b.deleted, func(id [16]byte) bool { return deleted[id] })
}

// queueMarkers queues the read markers, if any.
func (b *bulk) queueMarkers(st *checkpoint.Statements) {
	if len(b.markers) == 0 {
		return
	}
	rooms, users, seqs := make(projtx.UUIDs, 0, len(b.markers)), make(projtx.UUIDs, 0, len(b.markers)), make([]int64, 0, len(b.markers))
	for k, seq := range b.markers {
		rooms, users, seqs = append(rooms, k.room), append(users, k.user), append(seqs, seq)
	}
	st.Batch.Queue(`UPDATE room_members m SET last_read_seq = GREATEST(m.last_read_seq, v.seq)
		FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS v(room_id, user_id, seq)
		WHERE m.room_id = v.room_id AND m.user_id = v.user_id`, rooms, users, seqs)
	st.Note(fmt.Sprintf("move %d read markers", len(b.markers)))
}

// finish queues everything still gathered, then each touched room's last_seq and updated_at;
// with copyMessages it first copies the messages in on tx.
func (b *bulk) finish(ctx context.Context, tx pgx.Tx, st *checkpoint.Statements) error {
	b.regs.flush(st)
	b.joins.flush(st)
	if b.copyMessages {
		b.foldIntoCopy()
		if err := b.sent.copy(ctx, tx, &b.changes); err != nil {
			return err
		}
	} else {
		b.sent.flush(st)
	}
	if len(b.editRow.ids) > 0 {
		// A deleted message is never edited, so an edit that meets one is a replay over a later
		// state: it must not bring the content back.
		st.Batch.Queue(`UPDATE messages m SET content = e.content, edited_at = e.edited_at
			FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS e(id, content, edited_at)
			WHERE m.id = e.id AND NOT m.deleted`, b.editRow.ids, b.editRow.contents, b.editRow.at)
		st.Note(fmt.Sprintf("edit %d messages", len(b.editRow.ids)))
	}
	if len(b.deleted) > 0 {
		// The content goes for good: a deleted message is shown without it, and the read model
		// should not keep what its author took back.
		st.Batch.Queue(`UPDATE messages SET deleted = true, content = '' WHERE id = ANY($1::uuid[])`, b.deleted)
		st.Note(fmt.Sprintf("delete %d messages", len(b.deleted)))
	}
	if c := &b.changes; len(c.rooms) > 0 && !b.copyMessages {
		st.Batch.Queue(`INSERT INTO room_message_changes (room_id, version, kind, message_id, seq)
			SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::uuid[], $5::bigint[])
			ON CONFLICT (room_id, version) DO NOTHING`, c.rooms, c.versions, c.kinds, c.messages, c.seqs)
		st.Note(fmt.Sprintf("log %d message edits and deletions", len(c.rooms)))
	}
	b.queueMarkers(st)
	// A room's last_seq and updated_at only ever grow, so one update per room with the batch's
	// maxima is equivalent to one per message, and spares the row hundreds of versions; and the
	// rooms of a batch go in one statement rather than one each.
	if len(b.touched) > 0 {
		ids, seqs, at := make(projtx.UUIDs, 0, len(b.touched)), make([]int64, 0, len(b.touched)), make([]time.Time, 0, len(b.touched))
		for id, t := range b.touched {
			ids, seqs, at = append(ids, id), append(seqs, t.lastSeq), append(at, t.updatedAt)
		}
		st.Batch.Queue(`UPDATE rooms r SET last_seq = GREATEST(r.last_seq, v.last_seq), updated_at = GREATEST(r.updated_at, v.updated_at)
			FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[]) AS v(id, last_seq, updated_at)
			WHERE r.id = v.id`, ids, seqs, at)
		st.Note(fmt.Sprintf("update %d rooms' last message", len(ids)))
	}
	return nil
}

// messageRun gathers MessageSent events into one statement that inserts them all (arrays
// unnested), with their entries in the change log.
type messageRun struct {
	ids, rooms, senders, replies projtx.UUIDs
	sentBy                       projtx.UUIDs
	hasReply, hasSentBy          []bool
	seqs, versions               []int64
	contents, types, clientIDs   []string
	createdAt                    []time.Time
	// Only with copyMessages: edits and deletions folded in (bulk.foldIntoCopy); a nil editedAt
	// or deleted means none.
	editedAt    []*time.Time
	deleted     []bool
	first, last Record
}

func (m *messageRun) len() int { return len(m.ids) }

// add appends a MessageSent and moves its room's touch.
func (m *messageRun) add(r Record, d domain.MessageSent, touched map[uuid.UUID]roomTouch) {
	if m.len() == 0 {
		m.first = r
	}
	m.last = r
	msg := d.Message
	roomID := d.RoomID
	if roomID == uuid.Nil {
		roomID = msg.RoomID
	}
	mtype := msg.MessageType
	if mtype == "" {
		mtype = domain.MessageText
	}
	var reply uuid.UUID
	if msg.ReplyToMessageID != nil {
		reply = *msg.ReplyToMessageID
	}
	m.ids = append(m.ids, msg.ID)
	m.rooms = append(m.rooms, roomID)
	m.senders = append(m.senders, msg.SenderID)
	m.replies = append(m.replies, reply)
	m.hasReply = append(m.hasReply, msg.ReplyToMessageID != nil)
	var by uuid.UUID
	if r.Event.ActingID != nil {
		by = *r.Event.ActingID
	}
	m.sentBy, m.hasSentBy = append(m.sentBy, by), append(m.hasSentBy, r.Event.ActingID != nil)
	m.seqs = append(m.seqs, msg.Seq)
	m.versions = append(m.versions, r.Event.Version)
	m.contents = append(m.contents, msg.Content)
	m.types = append(m.types, mtype)
	m.clientIDs = append(m.clientIDs, msg.ClientMsgID)
	m.createdAt = append(m.createdAt, msg.CreatedAt)
	t := touched[roomID]
	t.lastSeq = max(t.lastSeq, msg.Seq)
	if msg.CreatedAt.After(t.updatedAt) {
		t.updatedAt = msg.CreatedAt
	}
	touched[roomID] = t
}

// sqlInsertMessages inserts a run of messages and logs each as sent in its room's change log,
// in one statement (the log costs a second row per message, not a second statement).
const sqlInsertMessages = `WITH m AS (
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::uuid[], $5::text[], $6::text[],
			$7::uuid[], $8::bool[], $9::text[], $10::timestamptz[], $11::bigint[], $12::uuid[], $13::bool[])
			AS m(id, room_id, seq, sender_id, content, message_type, reply_to, has_reply, client_msg_id, created_at, version, sent_by, has_sent_by)
	), inserted AS (
		INSERT INTO messages (id, room_id, seq, sender_id, content, message_type, reply_to_message_id, client_msg_id, created_at, sent_by)
		SELECT id, room_id, seq, sender_id, content, message_type, CASE WHEN has_reply THEN reply_to END, NULLIF(client_msg_id, ''), created_at,
			CASE WHEN has_sent_by THEN sent_by END
		FROM m
		ON CONFLICT DO NOTHING
	)
	INSERT INTO room_message_changes (room_id, version, kind, message_id, seq)
	SELECT room_id, version, 'sent', id, seq FROM m
	ON CONFLICT (room_id, version) DO NOTHING`

// flush queues the run's statement, if it has messages, and starts a new run.
func (m *messageRun) flush(st *checkpoint.Statements) {
	if m.len() == 0 {
		return
	}
	st.Batch.Queue(sqlInsertMessages, m.ids, m.rooms, m.seqs, m.senders, m.contents, m.types,
		m.replies, m.hasReply, m.clientIDs, m.createdAt, m.versions, m.sentBy, m.hasSentBy)
	st.Note(fmt.Sprintf("insert %d messages and log them (MessageSent from %s:%d:%d to %s:%d:%d)", m.len(),
		m.first.Topic, m.first.Partition, m.first.Offset, m.last.Topic, m.last.Partition, m.last.Offset))
	*m = messageRun{}
}

// edit gives message i content, edited at.
func (m *messageRun) edit(i int, content string, at time.Time) {
	if m.editedAt == nil {
		m.editedAt = make([]*time.Time, m.len())
	}
	m.contents[i], m.editedAt[i] = content, &at
}

// delete marks message i deleted, without its content.
func (m *messageRun) delete(i int) {
	if m.deleted == nil {
		m.deleted = make([]bool, m.len())
	}
	m.contents[i], m.deleted[i] = "", true
}

// copy copies the run's messages in on tx, and their change-log entries with the batch's other
// ones (edits and deletions) after them.
func (m *messageRun) copy(ctx context.Context, tx pgx.Tx, other *changeRows) error {
	if m.len() == 0 && len(other.rooms) == 0 {
		return nil
	}
	if m.len() > 0 {
		rows := newCopyRows(len(copyMessageColumns), m.len(), 200)
		for i := range m.ids {
			rows.row()
			rows.uuid(m.ids[i])
			rows.uuid(m.rooms[i])
			rows.int8(m.seqs[i])
			rows.uuid(m.senders[i])
			rows.text(m.contents[i])
			rows.text(m.types[i])
			if m.hasReply[i] {
				rows.uuid(m.replies[i])
			} else {
				rows.null()
			}
			if m.clientIDs[i] != "" {
				rows.text(m.clientIDs[i])
			} else {
				rows.null()
			}
			rows.timestamptz(m.createdAt[i])
			if m.hasSentBy[i] {
				rows.uuid(m.sentBy[i])
			} else {
				rows.null()
			}
			if m.editedAt != nil && m.editedAt[i] != nil {
				rows.timestamptz(*m.editedAt[i])
			} else {
				rows.null()
			}
			rows.bool(m.deleted != nil && m.deleted[i])
		}
		if err := rows.send(ctx, tx, "messages", copyMessageColumns); err != nil {
			return fmt.Errorf("copy %d messages (MessageSent from %s:%d:%d): %w", m.len(), m.first.Topic, m.first.Partition, m.first.Offset, err)
		}
	}
	n := m.len() + len(other.rooms)
	rows := newCopyRows(len(copyChangeColumns), n, 70)
	for i := range m.ids {
		rows.change(m.rooms[i], m.versions[i], changeSent, m.ids[i], m.seqs[i])
	}
	for i := range other.rooms {
		rows.change(other.rooms[i], other.versions[i], other.kinds[i], other.messages[i], other.seqs[i])
	}
	if err := rows.send(ctx, tx, "room_message_changes", copyChangeColumns); err != nil {
		return fmt.Errorf("copy %d message changes (%d sent, %d edits and deletions): %w", n, m.len(), len(other.rooms), err)
	}
	return nil
}

// The columns messageRun.copy fills, in its order.
var (
	copyMessageColumns = []string{"id", "room_id", "seq", "sender_id", "content", "message_type", "reply_to_message_id",
		"client_msg_id", "created_at", "sent_by", "edited_at", "deleted"}
	copyChangeColumns = []string{"room_id", "version", "kind", "message_id", "seq"}
)

// change adds a row of copyChangeColumns.
func (c *copyRows) change(room [16]byte, version int64, kind string, message [16]byte, seq int64) {
	c.row()
	c.uuid(room)
	c.int8(version)
	c.text(kind)
	c.uuid(message)
	c.int8(seq)
}

// registrations gathers UserRegistered events.
type registrations struct {
	ids, commands                   projtx.UUIDs
	names, lowers, displays, emails []string
	at                              []time.Time
}

func (g *registrations) add(r Record, d domain.UserRegistered) {
	display := d.DisplayName
	if display == "" {
		display = d.Username
	}
	g.ids, g.commands = append(g.ids, d.UserID), append(g.commands, r.Event.CommandID)
	g.names, g.lowers = append(g.names, d.Username), append(g.lowers, strings.ToLower(d.Username))
	g.displays, g.emails, g.at = append(g.displays, display), append(g.emails, d.Email), append(g.at, d.RegisteredAt)
}

// flush queues the run's statements, if it has registrations, and starts a new run.
func (g *registrations) flush(st *checkpoint.Statements) {
	if len(g.ids) == 0 {
		return
	}
	st.Batch.Queue(`INSERT INTO users (id, username, username_lower, display_name, email, created_at, updated_at)
		SELECT id, username, username_lower, display_name, NULLIF(email, ''), at, at
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
			AS u(id, username, username_lower, display_name, email, at)
		ON CONFLICT DO NOTHING`, g.ids, g.names, g.lowers, g.displays, g.emails, g.at)
	// The password hash was saved under the id of the command that registered; only that
	// command's hash becomes the credentials, never a losing racer's for the same name.
	st.Batch.Queue(`INSERT INTO credentials (user_id, password_hash)
		SELECT a.user_id, a.password_hash
		FROM registration_attempts a JOIN unnest($1::uuid[], $2::uuid[]) AS r(command_id, user_id)
		  ON a.command_id = r.command_id AND a.user_id = r.user_id
		ON CONFLICT (user_id) DO NOTHING`, g.commands, g.ids)
	// The name is taken now: no other attempt for it can ever be installed, so drop them all
	// rather than keep stray copies of password hashes.
	st.Batch.Queue(`DELETE FROM registration_attempts WHERE user_id = ANY($1::uuid[])`, g.ids)
	n := len(g.ids)
	st.Note(fmt.Sprintf("insert %d users", n))
	st.Note(fmt.Sprintf("install the credentials of %d users", n))
	st.Note(fmt.Sprintf("drop the registration attempts of %d users", n))
	*g = registrations{}
}
