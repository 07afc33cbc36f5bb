package search

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/projtx"
)

// ApplyBatch applies recs to the index and advances the "search" checkpoints past them, in one
// transaction: either all of a batch's effects and its checkpoint are stored, or none. Records
// below the stored checkpoint of their partition (applied by an earlier batch) are skipped, so a
// redelivered batch changes nothing. Records of one partition must come in offset order, as the
// log delivers them.
//
// Every effect is also idempotent on its own (inserts that keep the first row, updates to the
// event's values, deletes), so replaying events over rows that survived gives the same state.
// All statements go to Postgres in one pipelined round trip.
func (s *Store) ApplyBatch(ctx context.Context, recs []Record) error {
	applied, err := s.applyBatch(ctx, "", Projection, recs)
	if applied != nil {
		s.AdvanceAll(applied)
	}
	return err
}

// ApplyBatchIn is ApplyBatch into the search tables of another Postgres schema (a new
// generation of the index being rebuilt beside the live one), under the generation's own
// checkpoint name (see checkpoint.Apply).
func (s *Store) ApplyBatchIn(ctx context.Context, schema, projection string, recs []Record) error {
	if schema == "" {
		return fmt.Errorf("search: apply batch: no schema given")
	}
	_, err := s.applyBatch(ctx, schema, projection, recs)
	return err
}

func (s *Store) applyBatch(ctx context.Context, schema, projection string, recs []Record) (map[partition]int64, error) {
	var run sentRun
	memSet := false
	applied, err := checkpoint.Apply(ctx, s.pool, schema, projection, recs, func(st *checkpoint.Statements, r Record) {
		if !memSet {
			// An insert that finds the GIN index's pending list full merges it into the index
			// with work_mem of memory for the merge's accumulator; past it, the accumulator is
			// written out and the merge goes on with a fresh one, each pass inserting every key
			// it holds again. At the default 4 MB a 4 MB pending list took several passes. First
			// in the batch, so it rides the batch's round trip and holds for every insert.
			st.Batch.Queue("SET LOCAL work_mem = '" + mergeWorkMem + "'")
			st.Note("work_mem")
			memSet = true
		}
		if d, ok := r.Event.Data.(domain.MessageSent); ok {
			run.add(r, d)
			return
		}
		run.flush(st)
		st.Describe(r, queueEvent(&st.Batch, r.Event))
	}, func(_ context.Context, _ pgx.Tx, st *checkpoint.Statements) error {
		run.flush(st)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("search: apply batch: %w", err)
	}
	return applied, nil
}

// mergeWorkMem is the work_mem of the index writer's transactions: room for one pass of the merge
// of a full pending list (gin_pending_list_limit, 4 MB: migration 00020) into the index.
const mergeWorkMem = "64MB"

// insertMessage indexes a message; takeEdit makes it an upsert that takes the new content (an
// edit). A run of new messages goes in with sqlIndexMessages.
const (
	insertMessage = `INSERT INTO search_messages
			(id, room_id, seq, sender_id, content, message_type, reply_to_message_id, created_at, edited_at, tsv)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::tsvector)`
	takeEdit = ` ON CONFLICT (id) DO UPDATE
		SET content = EXCLUDED.content, edited_at = EXCLUDED.edited_at, tsv = EXCLUDED.tsv`
)

// queueEvent queues the statements that apply e and returns a short description of each. Events
// the index does not follow are skipped (their records still advance the checkpoint).
// MessageSent goes in runs (sentRun).
func queueEvent(b *pgx.Batch, e domain.Event) []string {
	switch d := e.Data.(type) {
	case domain.MessageUpdated:
		// An upsert: the event repeats the message's facts, so the index holds the message even
		// if it never saw the MessageSent (a log that starts later, say).
		content := storable(d.NewContent)
		b.Queue(insertMessage+takeEdit,
			d.MessageID, d.RoomID, d.Seq, d.SenderID, content, cmp.Or(d.MessageType, domain.MessageText),
			d.ReplyToMessageID, d.CreatedAt, d.UpdatedAt, Document(d.RoomID, content))
		return []string{"re-index edited message"}

	case domain.MessageDeleted:
		b.Queue(`DELETE FROM search_messages WHERE id = $1`, d.MessageID)
		return []string{"drop deleted message"}

	case domain.RoomCreated:
		b.Queue(`INSERT INTO search_rooms (room_id, is_private) VALUES ($1, $2) ON CONFLICT (room_id) DO NOTHING`,
			d.RoomID, d.IsPrivate)
		return []string{"add room"}

	case domain.RoomDeleted:
		b.Queue(`INSERT INTO search_rooms (room_id, deleted) VALUES ($1, true)
			ON CONFLICT (room_id) DO UPDATE SET deleted = true`, d.RoomID)
		// Through the GIN index: every message carries its room's key.
		b.Queue(`DELETE FROM search_messages WHERE tsv @@ $1::tsquery`, roomKeyQuery(d.RoomID))
		b.Queue(`DELETE FROM search_members WHERE room_id = $1`, d.RoomID)
		return []string{"mark room deleted", "drop deleted room's messages", "drop deleted room's members"}

	case domain.UserJoinedRoom:
		b.Queue(`INSERT INTO search_members (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, d.UserID, d.RoomID)
		return []string{"add member"}

	case domain.UserLeftRoom:
		return queueRemoveMember(b, d.RoomID, d.UserID)
	case domain.MemberKicked:
		return queueRemoveMember(b, d.RoomID, d.UserID)
	case domain.UserBanned:
		return queueRemoveMember(b, d.RoomID, d.UserID)
	}
	return nil
}

// storable is content as Postgres text can hold it: without NUL characters, which valid UTF-8
// may contain but text refuses (the batch, and the partition's search, would stall on them).
func storable(content string) string { return strings.ReplaceAll(content, "\x00", "") }

func queueRemoveMember(b *pgx.Batch, roomID, userID uuid.UUID) []string {
	b.Queue(`DELETE FROM search_members WHERE user_id = $1 AND room_id = $2`, userID, roomID)
	return []string{"remove member"}
}

// Checkpoints returns the next offsets the index stored: topic → partition → offset of the
// first record not yet applied. It is the projector runner's resume point.
func (s *Store) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return checkpoint.Load(ctx, s.pool, Projection)
}

// sentRun gathers consecutive MessageSent events into one statement that indexes them all
// (arrays unnested): a busy log is nearly all messages, and one statement per message was most
// of the index's cost (docs/benchmarks.md). Any other event ends the run first, so every
// statement still sees the effects of the events before it in the log (a deletion never
// meets a message that is not in yet, which it would then not delete).
type sentRun struct {
	ids, rooms, senders, replies projtx.UUIDs
	hasReply                     []bool
	seqs                         []int64
	contents, types, docs        []string
	createdAt                    []time.Time
	first, last                  Record
}

func (m *sentRun) add(r Record, d domain.MessageSent) {
	if len(m.ids) == 0 {
		m.first = r
	}
	m.last = r
	msg := d.Message
	roomID, content := cmp.Or(d.RoomID, msg.RoomID), storable(msg.Content)
	var reply uuid.UUID
	if msg.ReplyToMessageID != nil {
		reply = *msg.ReplyToMessageID
	}
	m.ids, m.rooms, m.senders = append(m.ids, msg.ID), append(m.rooms, roomID), append(m.senders, msg.SenderID)
	m.replies, m.hasReply = append(m.replies, reply), append(m.hasReply, msg.ReplyToMessageID != nil)
	m.seqs, m.createdAt = append(m.seqs, msg.Seq), append(m.createdAt, msg.CreatedAt)
	m.contents, m.types = append(m.contents, content), append(m.types, cmp.Or(msg.MessageType, domain.MessageText))
	m.docs = append(m.docs, Document(roomID, content))
}

// sqlIndexMessages indexes a run of messages; a message indexed before keeps its row (a
// redelivered MessageSent must not undo a later edit).
const sqlIndexMessages = `INSERT INTO search_messages
		(id, room_id, seq, sender_id, content, message_type, reply_to_message_id, created_at, edited_at, tsv)
	SELECT id, room_id, seq, sender_id, content, message_type, CASE WHEN has_reply THEN reply_to END, created_at, NULL, doc::tsvector
	FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::uuid[], $5::text[], $6::text[], $7::uuid[], $8::bool[], $9::timestamptz[], $10::text[])
		AS m(id, room_id, seq, sender_id, content, message_type, reply_to, has_reply, created_at, doc)
	ON CONFLICT (id) DO NOTHING`

// flush queues the run's statement, if it has messages, and starts a new run.
func (m *sentRun) flush(st *checkpoint.Statements) {
	if len(m.ids) == 0 {
		return
	}
	st.Batch.Queue(sqlIndexMessages, m.ids, m.rooms, m.seqs, m.senders, m.contents, m.types,
		m.replies, m.hasReply, m.createdAt, m.docs)
	st.Note(fmt.Sprintf("index %d messages (MessageSent from %s:%d:%d to %s:%d:%d)", len(m.ids),
		m.first.Topic, m.first.Partition, m.first.Offset, m.last.Topic, m.last.Partition, m.last.Offset))
	*m = sentRun{}
}
