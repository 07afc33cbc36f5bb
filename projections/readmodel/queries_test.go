package readmodel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

func TestMessagesPaging(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)

	alice, _, r1 := log.register("alice")
	room, r2 := log.createRoom(alice, "General", false, "")
	empty, r3 := log.createRoom(alice, "Empty", false, "")
	apply(t, store, r1, r2, r3)
	var (
		batch []readmodel.Record
		last  uuid.UUID
	)
	for i := 1; i <= 250; i++ {
		sent := log.send(room, alice, fmt.Sprintf("m%d", i))
		last = messageID(t, sent)
		batch = append(batch, sent...)
		if len(batch) == 100 {
			apply(t, store, batch)
			batch = nil
		}
	}
	apply(t, store, batch)
	// A deleted message keeps its place.
	apply(t, store, log.act(room, alice, domain.DeleteMessage{MessageID: last}))

	for _, tc := range []struct {
		name     string
		q        readmodel.HistoryQuery
		from, to int64 // expected seqs, inclusive; from > to for none
		wantMore bool
	}{
		{"latest, default limit", readmodel.HistoryQuery{}, 201, 250, true},
		{"latest, limit clamped to 200", readmodel.HistoryQuery{Limit: 1000}, 51, 250, true},
		{"before, at the clamp", readmodel.HistoryQuery{Limit: 201, BeforeSeq: 201}, 1, 200, false},
		{"before, more older", readmodel.HistoryQuery{BeforeSeq: 101, Limit: 50}, 51, 100, true},
		{"before, reaches the start", readmodel.HistoryQuery{BeforeSeq: 51, Limit: 100}, 1, 50, false},
		{"before, exactly the rest", readmodel.HistoryQuery{BeforeSeq: 11, Limit: 10}, 1, 10, false},
		{"before the first", readmodel.HistoryQuery{BeforeSeq: 1}, 1, 0, false},
		{"after, more newer", readmodel.HistoryQuery{AfterSeq: 199, Limit: 50}, 200, 249, true},
		{"after 0 pages from the start", readmodel.HistoryQuery{After: true, Limit: 10}, 1, 10, true},
		{"after, reaches the end", readmodel.HistoryQuery{AfterSeq: 200, Limit: 50}, 201, 250, false},
		{"after, default limit", readmodel.HistoryQuery{AfterSeq: 10}, 11, 60, true},
		{"after the last", readmodel.HistoryQuery{AfterSeq: 250}, 1, 0, false},
		{"after and before", readmodel.HistoryQuery{AfterSeq: 10, BeforeSeq: 16, Limit: 3}, 11, 13, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, more, err := store.Messages(ctx, room, tc.q)
			if err != nil {
				t.Fatalf("Messages: %v", err)
			}
			var want, got []int64
			for s := tc.from; s <= tc.to; s++ {
				want = append(want, s)
			}
			for _, m := range msgs {
				got = append(got, m.Seq)
			}
			if !slices.Equal(got, want) {
				t.Errorf("seqs = %s, want %d..%d", span(got), tc.from, tc.to)
			}
			if more != tc.wantMore {
				t.Errorf("has_more = %v, want %v", more, tc.wantMore)
			}
			for _, m := range msgs {
				if m.Seq == 250 {
					if !m.Deleted || m.Content != "" {
						t.Errorf("deleted message = %+v, want deleted with empty content", m)
					}
				} else if m.Content != fmt.Sprintf("m%d", m.Seq) || m.Deleted || m.RoomID != room || m.SenderID != alice || m.MessageType != "text" {
					t.Errorf("message %d = %+v", m.Seq, m)
				}
			}
		})
	}

	msgs, more, err := store.Messages(ctx, empty, readmodel.HistoryQuery{})
	if err != nil || len(msgs) != 0 || more {
		t.Errorf("empty room history = %d messages, has_more %v, %v; want none", len(msgs), more, err)
	}
}

func span(seqs []int64) string {
	if len(seqs) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d..%d (%d)", seqs[0], seqs[len(seqs)-1], len(seqs))
}

func TestListRoomsVisibilityAndFilter(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)

	alice, _, r1 := log.register("alice")
	bob, _, r2 := log.register("bob")
	carol, _, r3 := log.register("carol")
	general, r4 := log.createRoom(alice, "General", false, "")
	secret, r5 := log.createRoom(alice, "Secret Plans", true, "$argon2id$fake")
	_, r6 := log.createRoom(bob, "bob's den", true, "")
	_, r7 := log.createRoom(bob, "Random", false, "")
	apply(t, store, r1, r2, r3, r4, r5, r6, r7, log.join(general, carol))

	names := func(viewer uuid.UUID, q string) string {
		t.Helper()
		rooms, _, err := store.ListRooms(ctx, viewer, readmodel.RoomListQuery{Q: q})
		if err != nil {
			t.Fatalf("ListRooms: %v", err)
		}
		var out []string
		for _, r := range rooms {
			out = append(out, r.Name)
		}
		return strings.Join(out, ",")
	}
	byName := map[uuid.UUID]string{alice: "alice", bob: "bob", carol: "carol"}
	for _, tc := range []struct {
		viewer uuid.UUID
		q      string
		want   string
	}{
		{alice, "", "General,Random,Secret Plans"},
		{bob, "", "General,Random,bob's den"},
		{carol, "", "General,Random"},
		{uuid.New(), "", "General,Random"},
		{alice, "sEcReT", "Secret Plans"},
		{carol, "secret", ""},
		{bob, "AN", "Random"},
		{bob, "'S D", "bob's den"},
		{alice, "%", ""},
	} {
		if got := names(tc.viewer, tc.q); got != tc.want {
			t.Errorf("ListRooms(%s, %q) = %q, want %q", byName[tc.viewer], tc.q, got, tc.want)
		}
	}

	// Joining a private room (with its password) shows it; leaving hides it again.
	apply(t, store, log.do(domain.NewCommand(uuid.New(), secret, carol, "carol", log.now, domain.JoinRoom{PasswordHash: "$argon2id$fake"})))
	if got := names(carol, ""); got != "General,Random,Secret Plans" {
		t.Errorf("after joining Secret Plans, ListRooms(carol) = %q", got)
	}
	apply(t, store, log.leave(secret, carol))
	if got := names(carol, ""); got != "General,Random" {
		t.Errorf("after leaving Secret Plans, ListRooms(carol) = %q", got)
	}

	r, err := store.Room(ctx, secret)
	if err != nil {
		t.Fatalf("Room: %v", err)
	}
	if r.Name != "Secret Plans" || r.Description != "about Secret Plans" || r.OwnerID != alice || !r.IsPrivate || r.MemberCount != 1 {
		t.Errorf("Room(secret) = %+v", r)
	}
	if r.CreatedAt != r5[0].Event.OccurredAt || r.UpdatedAt != r.CreatedAt {
		t.Errorf("Room(secret) times = %v, %v; want both %v", r.CreatedAt, r.UpdatedAt, r5[0].Event.OccurredAt)
	}
	if _, err := store.Room(ctx, uuid.New()); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Room(unknown) error = %v, want ErrNotFound", err)
	}
	if h, err := store.RoomPasswordHash(ctx, secret); err != nil || h != "$argon2id$fake" {
		t.Errorf("RoomPasswordHash(secret) = %q, %v", h, err)
	}
	if h, err := store.RoomPasswordHash(ctx, general); err != nil || h != "" {
		t.Errorf("RoomPasswordHash(general) = %q, %v; want empty", h, err)
	}
	if _, err := store.RoomPasswordHash(ctx, uuid.New()); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("RoomPasswordHash(unknown) error = %v, want ErrNotFound", err)
	}
}

func TestMembership(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)

	alice, _, r1 := log.register("alice")
	bob, _, r2 := log.register("bob")
	general, r3 := log.createRoom(alice, "General", false, "")
	other, r4 := log.createRoom(bob, "Other", false, "")
	// carol's registration is not projected yet: her membership must still show.
	carol := domain.UserIDFor("carol")
	apply(t, store, r1, r2, r3, r4, log.join(general, bob), log.join(general, carol), log.join(other, alice))

	members, err := store.Members(ctx, general)
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	var got []string
	for _, m := range members {
		got = append(got, fmt.Sprintf("%s/%s/%s", m.User.ID, m.User.Username, m.Role))
	}
	want := []string{alice.String() + "/alice/owner", bob.String() + "/bob/member", carol.String() + "/joiner/member"}
	if !slices.Equal(got, want) {
		t.Errorf("Members = %v, want %v", got, want)
	}
	if len(members) > 1 && (members[1].User.DisplayName != "bob Display" || members[1].JoinedAt.IsZero()) {
		t.Errorf("member bob = %+v", members[1])
	}
	if r, _ := store.Room(ctx, general); r.MemberCount != 3 {
		t.Errorf("member_count = %d, want 3", r.MemberCount)
	}

	ids, err := store.RoomIDsOf(ctx, alice)
	if err != nil {
		t.Fatalf("RoomIDsOf: %v", err)
	}
	if !slices.Equal(ids, []uuid.UUID{general, other}) {
		t.Errorf("RoomIDsOf(alice) = %v, want [general other]", ids)
	}

	for _, tc := range []struct {
		room, user uuid.UUID
		want       bool
	}{{general, bob, true}, {other, bob, true}, {other, carol, false}, {uuid.New(), alice, false}} {
		if ok, err := store.IsMember(ctx, tc.room, tc.user); err != nil || ok != tc.want {
			t.Errorf("IsMember = %v, %v; want %v", ok, err, tc.want)
		}
	}

	apply(t, store, log.leave(general, bob))
	if ok, _ := store.IsMember(ctx, general, bob); ok {
		t.Error("bob is still a member after leaving")
	}
	if r, _ := store.Room(ctx, general); r.MemberCount != 2 {
		t.Errorf("member_count after leave = %d, want 2", r.MemberCount)
	}
	if ids, _ := store.RoomIDsOf(ctx, bob); !slices.Equal(ids, []uuid.UUID{other}) {
		t.Errorf("RoomIDsOf(bob) after leave = %v, want [other]", ids)
	}
}

// A batch's consecutive messages go in as one statement: each keeps its own fields (a reply or
// none, its type, its client id), and a message after another event in the same batch too.
func TestMessageRunsKeepEveryField(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)
	alice, _, reg := log.register("alice")
	room, created := log.createRoom(alice, "General", false, "")
	first := log.send(room, alice, "first")
	firstID := messageID(t, first)
	reply := log.act(room, alice, domain.SendMessage{Content: "a reply", ReplyToMessageID: &firstID, ClientMsgID: "c-1"})
	image := log.act(room, alice, domain.SendMessage{Content: "https://example.com/a.png", MessageType: domain.MessageImage})
	edit := log.act(room, alice, domain.EditMessage{MessageID: firstID, Content: "first, edited"})
	after := log.send(room, alice, "after the edit")
	apply(t, store, reg, created, first, reply, image, edit, after)

	msgs, _, err := store.Messages(ctx, room, readmodel.HistoryQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 4 {
		t.Fatalf("history has %d messages, want 4", len(msgs))
	}
	want := []struct {
		content, mtype string
		reply          *uuid.UUID
		edited         bool
	}{
		{"first, edited", domain.MessageText, nil, true},
		{"a reply", domain.MessageText, &firstID, false},
		{"https://example.com/a.png", domain.MessageImage, nil, false},
		{"after the edit", domain.MessageText, nil, false},
	}
	for i, w := range want {
		m := msgs[i]
		if m.Content != w.content || m.MessageType != w.mtype || m.Seq != int64(i+1) || (m.EditedAt != nil) != w.edited ||
			(m.ReplyToMessageID == nil) != (w.reply == nil) || (w.reply != nil && *m.ReplyToMessageID != *w.reply) {
			t.Errorf("message %d = %+v, want %+v", i, m, w)
		}
	}
	var clientID *string
	if err := pool.QueryRow(ctx, `SELECT client_msg_id FROM messages WHERE room_id = $1 AND seq = 2`, room).Scan(&clientID); err != nil || clientID == nil || *clientID != "c-1" {
		t.Errorf("client_msg_id of the reply = %v, %v; want c-1", clientID, err)
	}
	if err := pool.QueryRow(ctx, `SELECT client_msg_id FROM messages WHERE room_id = $1 AND seq = 1`, room).Scan(&clientID); err != nil || clientID != nil {
		t.Errorf("client_msg_id of a message sent without one = %v, %v; want NULL", clientID, err)
	}
	var lastSeq int64
	if err := pool.QueryRow(ctx, `SELECT last_seq FROM rooms WHERE id = $1`, room).Scan(&lastSeq); err != nil || lastSeq != 4 {
		t.Errorf("room last_seq = %d, %v; want 4", lastSeq, err)
	}
}

// One batch where the order of events matters: the bulk statements must give what one event
// after the other gives.
func TestBulkStatementsKeepTheLogOrder(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)
	alice, _, regA := log.register("alice")
	bob, _, regB := log.register("bob")
	carol, _, regC := log.register("carol")
	room, created := log.createRoom(alice, "General", false, "")
	m1 := log.send(room, alice, "one")
	m2 := log.send(room, alice, "two")
	id1, id2 := messageID(t, m1), messageID(t, m2)
	caroline := "Caroline"
	profile := log.do(domain.NewCommand(uuid.New(), carol, carol, "carol", log.now, domain.UpdateProfile{DisplayName: &caroline}))
	recs := concat(regA, regB, regC, profile, created, m1, m2,
		// bob and carol join after two messages: they count as read.
		log.join(room, bob),
		log.join(room, carol),
		log.send(room, alice, "three"),
		// Two edits of one message: the last one stays. An edit then a deletion: deleted.
		log.act(room, alice, domain.EditMessage{MessageID: id1, Content: "one, first edit"}),
		log.act(room, alice, domain.EditMessage{MessageID: id1, Content: "one, second edit"}),
		log.act(room, alice, domain.EditMessage{MessageID: id2, Content: "two, edited"}),
		log.act(room, alice, domain.DeleteMessage{MessageID: id2}),
		// bob reads up to 3, leaves (a marker after it would be lost) and comes back.
		log.act(room, bob, domain.MarkRead{Seq: 3}),
		log.leave(room, bob),
		log.join(room, bob),
		log.send(room, alice, "four"),
		log.act(room, bob, domain.MarkRead{Seq: 4}),
		log.act(room, bob, domain.MarkRead{Seq: 4}),
	)
	if err := store.ApplyBatch(ctx, readmodel.Projection, recs); err != nil {
		t.Fatal(err)
	}
	msgs, _, err := store.Messages(ctx, room, readmodel.HistoryQuery{Limit: 10})
	if err != nil || len(msgs) != 4 {
		t.Fatalf("history: %d messages, %v", len(msgs), err)
	}
	if m := msgs[0]; m.Content != "one, second edit" || m.EditedAt == nil {
		t.Errorf("message edited twice: %+v", m)
	}
	if m := msgs[1]; !m.Deleted || m.Content != "" || m.EditedAt == nil {
		t.Errorf("message edited then deleted: %+v", m)
	}
	var kinds []string
	rows, err := pool.Query(ctx, `SELECT kind FROM room_message_changes WHERE room_id = $1 ORDER BY version`, room)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, k)
	}
	if got := strings.Join(kinds, ","); got != "sent,sent,sent,updated,updated,updated,deleted,sent" {
		t.Errorf("change log kinds %s", got)
	}
	// A profile update right after the registration, in the same batch, applies to it.
	if u, err := store.UserByID(ctx, carol); err != nil || u.DisplayName != "Caroline" {
		t.Errorf("carol after registering and renaming in one batch: %+v, %v", u, err)
	}
	if r := roomNamed(t, store, carol, "General"); r.LastReadSeq == nil || *r.LastReadSeq != 2 || *r.UnreadCount != 2 {
		t.Errorf("carol's General: %s, want last_read 2 unread 2", unread(r))
	}
	// bob rejoined after message three: his marker starts there, then moves to four.
	if r := roomNamed(t, store, bob, "General"); r.LastReadSeq == nil || *r.LastReadSeq != 4 || *r.UnreadCount != 0 {
		t.Errorf("bob's General: %s, want last_read 4 unread 0", unread(r))
	}

	// The same log one event per batch ends in the same rows.
	pool2 := pgtest.New(t)
	store2 := readmodel.NewStore(pool2)
	for _, r := range recs {
		if err := store2.ApplyBatch(ctx, readmodel.Projection, []readmodel.Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := dump(t, pool), dump(t, pool2); a != b {
		t.Errorf("one batch:\n%s\none event per batch:\n%s", a, b)
	}
}
