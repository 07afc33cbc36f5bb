package readmodel

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/projections"
)

// Bounds of MessageChangesAfter.
const (
	DefaultChangesLimit = 200
	MaxChangesLimit     = 1000
)

// MessageChange is one change to a room's messages, with the message as it stands now (so an
// edit of a message deleted since shows it deleted). Kind is the push that announced the
// change: projections.PushMessage (sent), PushMessageUpdated or PushMessageDeleted.
type MessageChange struct {
	Kind    string
	Message projections.Message
}

// changeKinds maps room_message_changes kinds to the pushes that announce them.
var changeKinds = map[string]string{
	changeSent:    projections.PushMessage,
	changeUpdated: projections.PushMessageUpdated,
	changeDeleted: projections.PushMessageDeleted,
}

// MessageChangesAfter returns what a client that saw the room's messages up to lastSeenSeq
// missed: every change to the room's messages made after the message with that seq was sent
// (from the start for 0), in the room's event order. That is the later messages, and the edits
// and deletions made since, of older messages too. It returns at most limit changes (default
// 200, at most 1000) and whether that is all of them; false means the client missed more and
// should reload.
//
// A seq that names no message (a gap) counts from the last message before it.
func (s *Store) MessageChangesAfter(ctx context.Context, roomID uuid.UUID, lastSeenSeq int64, limit int) ([]MessageChange, bool, error) {
	limit = clamp(limit, DefaultChangesLimit, MaxChangesLimit)
	// Seqs grow with versions, so the send of the greatest seq up to lastSeenSeq is the latest
	// such send: one step down the partial index finds where the client stands.
	rows, err := s.pool.Query(ctx, `
		WITH since AS (
			SELECT COALESCE((
				SELECT version FROM room_message_changes
				WHERE room_id = $1 AND kind = 'sent' AND seq <= $2
				ORDER BY seq DESC LIMIT 1), 0) AS version
		)
		SELECT c.kind, m.id, m.room_id, m.sender_id, CASE WHEN m.deleted THEN '' ELSE m.content END, m.message_type,
		       m.reply_to_message_id, m.seq, m.created_at, m.edited_at, m.deleted, m.sent_by
		FROM room_message_changes c JOIN messages m ON m.id = c.message_id
		WHERE c.room_id = $1 AND c.version > (SELECT version FROM since)
		ORDER BY c.version
		LIMIT $3`, roomID, lastSeenSeq, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("message changes of %s: %w", roomID, err)
	}
	changes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (MessageChange, error) {
		var (
			c    MessageChange
			kind string
		)
		m, err := scanMessageAfter(r, &kind)
		c.Kind, c.Message = changeKinds[kind], m
		return c, err
	})
	if err != nil {
		return nil, false, fmt.Errorf("message changes of %s: %w", roomID, err)
	}
	if len(changes) > limit {
		return changes[:limit], false, nil
	}
	return changes, true, nil
}
