package readmodel_test

import (
	"context"
	"testing"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// withNUL puts NULs into the text of the records' events, as an event written before the
// domain's text rule (or by another writer) may hold them: the domain refuses them now, so the
// events are decided clean and changed afterwards, as if read from such a log.
func withNUL(recs []readmodel.Record, change func(domain.EventData) domain.EventData) []readmodel.Record {
	for i := range recs {
		recs[i].Event.Data = change(recs[i].Event.Data)
	}
	return recs
}

// Postgres refuses NUL in text: an event that holds one used to fail its batch until it was
// dead-lettered, leaving a gap in the history (a message), a room or a user missing. Every such
// event is projected, its NULs stripped.
func TestEventsWithNULAreProjected(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)

	alice, _, r1 := log.register("alice")
	r1 = withNUL(r1, func(d domain.EventData) domain.EventData {
		if u, ok := d.(domain.UserRegistered); ok {
			u.DisplayName = "Al\x00ice"
			return u
		}
		return d
	})
	room, r2 := log.createRoom(alice, "placeholder", false, "")
	r2 = withNUL(r2, func(d domain.EventData) domain.EventData {
		if c, ok := d.(domain.RoomCreated); ok {
			c.Name, c.Description = "nul\x00room", "\x00about"
			return c
		}
		return d
	})
	r3 := withNUL(log.send(room, alice, "placeholder"), func(d domain.EventData) domain.EventData {
		if m, ok := d.(domain.MessageSent); ok {
			m.Message.Content, m.Message.ClientMsgID = "hello\x00 world", "c\x00"
			return m
		}
		return d
	})
	r4 := log.send(room, alice, "second")
	edit := withNUL(log.act(room, alice, domain.EditMessage{MessageID: messageID(t, r4), Content: "placeholder"}), func(d domain.EventData) domain.EventData {
		if m, ok := d.(domain.MessageUpdated); ok {
			m.NewContent = "edited\x00"
			return m
		}
		return d
	})
	r5 := log.send(room, alice, "third")
	apply(t, store, r1, r2, r3, r4, edit, r5)

	u, err := store.UserByID(ctx, alice)
	if err != nil || u.DisplayName != "Alice" {
		t.Fatalf("user %+v, %v; want display name Alice", u, err)
	}
	got, err := store.Room(ctx, room)
	if err != nil || got.Name != "nulroom" || got.Description != "about" {
		t.Fatalf("room %+v, %v; want nulroom, about", got, err)
	}
	msgs, _, err := store.Messages(ctx, room, readmodel.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var contents []string
	for _, m := range msgs {
		contents = append(contents, m.Content)
		if m.Seq != int64(len(contents)) {
			t.Fatalf("a gap in the history: %+v", msgs)
		}
	}
	if len(contents) != 3 || contents[0] != "hello world" || contents[1] != "edited" || contents[2] != "third" {
		t.Fatalf("history %q", contents)
	}
	cps, err := store.Checkpoints(ctx, readmodel.Projection)
	if err != nil || cps[chatTopic][0] != log.offsets[chatTopic] {
		t.Fatalf("checkpoints %v, %v; want the chat topic at %d", cps, err, log.offsets[chatTopic])
	}
}
