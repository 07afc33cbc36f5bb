package readmodel_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// A client that saw a room up to some seq gets what it missed: the later messages, and the
// edits and deletions made since, of older messages too, in the order they happened, each with
// the message as it is now.
func TestMessageChangesAfter(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)

	alice, _, r1 := log.register("alice")
	room, r2 := log.createRoom(alice, "General", false, "")
	other, r3 := log.createRoom(alice, "Other", false, "")
	recs := concat(r1, r2, r3)
	name := map[uuid.UUID]string{}
	send := func(room uuid.UUID, content string) {
		sent := log.send(room, alice, content)
		name[messageID(t, sent)] = content
		recs = concat(recs, sent)
	}
	id := func(content string) uuid.UUID {
		for id, n := range name {
			if n == content {
				return id
			}
		}
		t.Fatalf("no message %q", content)
		return uuid.Nil
	}
	edit := func(content string) {
		recs = concat(recs, log.act(room, alice, domain.EditMessage{MessageID: id(content), Content: content + "*"}))
	}
	del := func(content string) {
		recs = concat(recs, log.act(room, alice, domain.DeleteMessage{MessageID: id(content)}))
	}
	for i := 1; i <= 5; i++ {
		send(room, fmt.Sprintf("m%d", i)) // seq i
	}
	edit("m2")
	send(other, "elsewhere") // another room's changes never show
	del("m1")
	send(room, "m6")
	edit("m6")
	del("m4")
	apply(t, store, recs)

	// render shows each change as kind:message(content), with the message's current state.
	render := func(changes []readmodel.MessageChange) string {
		var out []string
		for _, c := range changes {
			m := c.Message
			state := m.Content
			if m.Deleted {
				state = "deleted"
			}
			if m.EditedAt != nil {
				state += ",edited"
			}
			if m.RoomID != room {
				state += ",WRONG ROOM"
			}
			out = append(out, fmt.Sprintf("%s:%s(%s)", c.Kind, name[m.ID], state))
		}
		return strings.Join(out, " ")
	}
	all := "message:m1(deleted) message:m2(m2*,edited) message:m3(m3) message:m4(deleted) message:m5(m5) " +
		"message_updated:m2(m2*,edited) message_deleted:m1(deleted) message:m6(m6*,edited) " +
		"message_updated:m6(m6*,edited) message_deleted:m4(deleted)"
	afterThree := "message:m4(deleted) message:m5(m5) message_updated:m2(m2*,edited) message_deleted:m1(deleted) " +
		"message:m6(m6*,edited) message_updated:m6(m6*,edited) message_deleted:m4(deleted)"
	for _, tc := range []struct {
		name     string
		lastSeen int64
		limit    int
		want     string
		complete bool
	}{
		{"from the start", 0, 100, all, true},
		{"after seq 3: later messages, then the edits and deletions of older ones", 3, 100, afterThree, true},
		{"exactly the limit is complete", 3, 7, afterThree, true},
		{"over the limit is not", 3, 6, strings.TrimSuffix(afterThree, " message_deleted:m4(deleted)"), false},
		{"a small limit", 3, 2, "message:m4(deleted) message:m5(m5)", false},
		{"after the last message: its edit and a deletion", 6, 100, "message_updated:m6(m6*,edited) message_deleted:m4(deleted)", true},
		{"a seq beyond the last counts from the last", 99, 100, "message_updated:m6(m6*,edited) message_deleted:m4(deleted)", true},
		{"default limit", 0, 0, all, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changes, complete, err := store.MessageChangesAfter(ctx, room, tc.lastSeen, tc.limit)
			if err != nil {
				t.Fatalf("MessageChangesAfter: %v", err)
			}
			if got := render(changes); got != tc.want {
				t.Errorf("changes:\n got %s\nwant %s", got, tc.want)
			}
			if complete != tc.complete {
				t.Errorf("complete = %v, want %v", complete, tc.complete)
			}
		})
	}

	// Nothing missed: an empty, complete answer; an unknown room likewise.
	apply(t, store, log.send(other, alice, "more elsewhere"))
	for _, room := range []uuid.UUID{other, uuid.New()} {
		changes, complete, err := store.MessageChangesAfter(ctx, room, 2, 10)
		if err != nil || len(changes) != 0 || !complete {
			t.Errorf("MessageChangesAfter(%s, 2) = %d changes, complete %v, %v; want none, complete", room, len(changes), complete, err)
		}
	}
}
