package readmodel_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// Who sees which room, and a member's unread count: the messages of others after their read
// marker that are not deleted.
func TestListRoomsUnreadAndVisibility(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)

	var recs []readmodel.Record
	add := func(r ...[]readmodel.Record) { recs = concat(append([][]readmodel.Record{recs}, r...)...) }
	alice, _, r := log.register("alice")
	add(r)
	bob, _, r := log.register("bob")
	add(r)
	carol, _, r := log.register("carol")
	add(r)
	dave, _, r := log.register("dave")
	add(r)
	erin, _, r := log.register("erin")
	add(r)
	hidden, r := log.createRoom(alice, "Hidden", true, "")
	add(r)
	lobby, r := log.createRoom(alice, "Lobby", false, "")
	add(r)
	gone, r := log.createRoom(alice, "Gone", false, "")
	add(r)
	add(log.act(hidden, alice, domain.InviteUser{UserID: bob}), // bob: invited, not a member
		log.act(hidden, alice, domain.InviteUser{UserID: dave}), log.join(hidden, dave),
		log.join(gone, dave))
	// Hidden: alice sends 1, 2, 3, dave 4, alice 5; alice deletes 2; dave has read up to 1.
	h := make([]uuid.UUID, 6)
	for i, who := range []uuid.UUID{alice, alice, alice, dave, alice} {
		sent := log.send(hidden, who, "h")
		h[i+1] = messageID(t, sent)
		add(sent)
	}
	add(log.act(hidden, alice, domain.DeleteMessage{MessageID: h[2]}), log.act(hidden, dave, domain.MarkRead{Seq: 1}))
	// Lobby: five messages by alice before erin joins, one after.
	for range 5 {
		add(log.send(lobby, alice, "l"))
	}
	add(log.join(lobby, erin), log.send(lobby, alice, "after erin joined"))
	add(log.act(gone, alice, domain.DeleteRoom{}))
	apply(t, store, recs)

	list := func(viewer uuid.UUID) string {
		t.Helper()
		rooms, _, err := store.ListRooms(ctx, viewer, readmodel.RoomListQuery{})
		if err != nil {
			t.Fatalf("ListRooms: %v", err)
		}
		var out []string
		for _, r := range rooms {
			out = append(out, unread(r))
		}
		return strings.Join(out, "; ")
	}
	for _, tc := range []struct {
		who    string
		viewer uuid.UUID
		want   string
	}{
		// The owner read nothing, but her own messages are never unread: dave's 4 is.
		{"owner", alice, "Hidden: last_read_seq 0, unread_count 1; Lobby: last_read_seq 0, unread_count 0"},
		// Invited: sees the private room, with no state of his own in it.
		{"invited", bob, "Hidden: last_read_seq absent, unread_count absent; Lobby: last_read_seq absent, unread_count absent"},
		{"stranger", carol, "Lobby: last_read_seq absent, unread_count absent"},
		// After 1: 2 is deleted, 4 is his own; 3 and 5 are unread. Gone was deleted.
		{"member", dave, "Hidden: last_read_seq 1, unread_count 2; Lobby: last_read_seq absent, unread_count absent"},
		// Joined Lobby after its fifth message: only the sixth is unread.
		{"late joiner", erin, "Lobby: last_read_seq 5, unread_count 1"},
	} {
		if got := list(tc.viewer); got != tc.want {
			t.Errorf("%s sees %q,\nwant %q", tc.who, got, tc.want)
		}
	}

	// The invitation ends when bob joins: he is then a member, with the room's history read.
	apply(t, store, log.join(hidden, bob))
	if got, want := list(bob), "Hidden: last_read_seq 5, unread_count 0; Lobby: last_read_seq absent, unread_count absent"; got != want {
		t.Errorf("bob after joining sees %q, want %q", got, want)
	}
	// Banned, he is neither member nor invited: the private room disappears from his list.
	apply(t, store, log.act(hidden, alice, domain.BanMember{UserID: bob}))
	if got, want := list(bob), "Lobby: last_read_seq absent, unread_count absent"; got != want {
		t.Errorf("bob after his ban sees %q, want %q", got, want)
	}
	// Read markers only move forward; reading up to the end clears the count.
	apply(t, store, log.act(hidden, dave, domain.MarkRead{Seq: 5}))
	if r := roomNamed(t, store, dave, "Hidden"); *r.LastReadSeq != 5 || *r.UnreadCount != 0 {
		t.Errorf("dave after reading everything: %s", unread(r))
	}
}

func TestRoomLookups(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)
	alice, _, r1 := log.register("Alice")
	room, r2 := log.createRoom(alice, "General", false, "")
	apply(t, store, r1, r2)

	if _, err := store.Room(ctx, room); err != nil {
		t.Fatalf("Room(live) = %v", err)
	}
	if _, err := store.Room(ctx, uuid.New()); !errors.Is(err, readmodel.ErrNotFound) || errors.Is(err, readmodel.ErrRoomDeleted) {
		t.Errorf("Room(unknown) error = %v, want ErrNotFound", err)
	}
	apply(t, store, log.act(room, alice, domain.DeleteRoom{}))
	if r, err := store.Room(ctx, room); !errors.Is(err, readmodel.ErrRoomDeleted) || errors.Is(err, readmodel.ErrNotFound) || r.ID != uuid.Nil {
		t.Errorf("Room(deleted) = %+v, %v; want ErrRoomDeleted and no room", r, err)
	}
	if rooms, _, err := store.ListRooms(ctx, alice, readmodel.RoomListQuery{}); err != nil || len(rooms) != 0 {
		t.Errorf("ListRooms after the delete = %+v, %v; want none", rooms, err)
	}

	for _, name := range []string{"Alice", "alice", "ALICE"} {
		if u, err := store.UserByUsername(ctx, name); err != nil || u.ID != alice || u.Username != "Alice" {
			t.Errorf("UserByUsername(%q) = %+v, %v; want Alice", name, u, err)
		}
	}
	for _, name := range []string{"alic", "", "al%"} {
		if _, err := store.UserByUsername(ctx, name); !errors.Is(err, readmodel.ErrNotFound) {
			t.Errorf("UserByUsername(%q) error = %v, want ErrNotFound", name, err)
		}
	}
}
