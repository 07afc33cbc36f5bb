package readmodel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// chatLife is a life of two rooms that produces every event type. General (public, owned by
// alice) gets bob, carol and dave, four messages, a promotion, renames, a kick, bans, an edit, a
// deletion and a read marker; Secret (private, invite-only) gets invitations, a ban, a join by
// invitation, and is deleted. Bob and alice change their profiles.
type chatLife struct {
	alice, bob, carol, dave, erin uuid.UUID
	general, secret               uuid.UUID
	m1, m2, m3, m4                uuid.UUID // seq 1..4 of General: alice, bob, carol, alice
	editedAt                      time.Time // of m2
	// opened ends with the invitations open, before any moderation; rest is everything after.
	opened, rest []readmodel.Record
}

func newChatLife(t testing.TB, log *eventLog) chatLife {
	var l chatLife
	var r []readmodel.Record
	var recs []readmodel.Record
	l.alice, _, recs = log.register("alice")
	r = append(r, recs...)
	l.bob, _, recs = log.register("bob")
	r = append(r, recs...)
	l.carol, _, recs = log.register("carol")
	r = append(r, recs...)
	l.dave, _, recs = log.register("dave")
	r = append(r, recs...)
	l.erin, _, recs = log.register("erin")
	r = append(r, recs...)
	l.general, recs = log.createRoom(l.alice, "General", false, "")
	r = append(r, recs...)
	l.secret, recs = log.createRoom(l.alice, "Secret", true, "")
	r = append(r, recs...)
	r = concat(r,
		log.joinAs(l.general, l.bob, "bob"), log.joinAs(l.general, l.carol, "carol"), log.joinAs(l.general, l.dave, "dave"))
	m1 := log.send(l.general, l.alice, "one")
	m2 := log.send(l.general, l.bob, "two")
	m3 := log.send(l.general, l.carol, "three")
	l.m1, l.m2, l.m3 = messageID(t, m1), messageID(t, m2), messageID(t, m3)
	r = concat(r, m1, m2, m3,
		log.act(l.general, l.carol, domain.EditMessage{MessageID: l.m3, Content: "three, edited"}),
		log.act(l.secret, l.alice, domain.InviteUser{UserID: l.carol}),
		log.act(l.secret, l.alice, domain.InviteUser{UserID: l.erin}),
	)
	l.opened = r

	// Decided in this order: the records' offsets must grow along the batch.
	l.rest = concat(
		log.act(l.general, l.alice, domain.SetRole{UserID: l.bob, Role: domain.RoleAdmin}),
		log.act(l.general, l.alice, domain.UpdateRoom{Name: ptr("Lounge"), Description: ptr("new topic")}),
		log.act(l.general, l.bob, domain.UpdateRoom{Description: ptr("")}),
		log.act(l.general, l.bob, domain.KickMember{UserID: l.carol}),
		log.act(l.general, l.alice, domain.BanMember{UserID: l.dave, Reason: "spam"}),
		log.act(l.general, l.alice, domain.BanMember{UserID: l.erin}), // not a member
		log.act(l.general, l.alice, domain.UnbanMember{UserID: l.erin}),
		log.act(l.secret, l.alice, domain.BanMember{UserID: l.erin}), // ends her invitation
		log.joinAs(l.secret, l.carol, "carol"),                       // by invitation, which it ends
	)
	edit := log.act(l.general, l.bob, domain.EditMessage{MessageID: l.m2, Content: "two, edited"})
	l.editedAt = edit[0].Event.Data.(domain.MessageUpdated).UpdatedAt
	deleted := log.act(l.general, l.alice, domain.DeleteMessage{MessageID: l.m3}) // edited before, by carol
	m4 := log.send(l.general, l.alice, "four")
	l.m4 = messageID(t, m4)
	l.rest = concat(l.rest, edit, deleted, m4,
		log.act(l.general, l.bob, domain.MarkRead{Seq: 2}),
		log.act(l.bob, l.bob, domain.UpdateProfile{DisplayName: ptr("Bobby"), AvatarURL: ptr("https://cdn.example/bob.png")}),
		log.act(l.bob, l.bob, domain.UpdateProfile{Email: ptr("")}),
		log.act(l.alice, l.alice, domain.UpdateProfile{AvatarURL: ptr("https://cdn.example/a.png")}),
		log.act(l.alice, l.alice, domain.UpdateProfile{DisplayName: ptr(""), AvatarURL: ptr("")}),
		log.act(l.secret, l.alice, domain.DeleteRoom{}),
	)
	return l
}

func ptr[T any](v T) *T { return &v }

// Every event's effect, as the queries show it.
func TestEveryEventEffect(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)
	l := newChatLife(t, log)

	apply(t, store, l.opened)
	for _, user := range []uuid.UUID{l.carol, l.erin} {
		if ok, err := store.IsInvited(ctx, l.secret, user); err != nil || !ok {
			t.Errorf("IsInvited(secret, %s) = %v, %v; want true", user, ok, err)
		}
	}
	if ok, _ := store.IsInvited(ctx, l.secret, l.dave); ok {
		t.Error("dave is invited, but nobody invited him")
	}
	// Joins after messages start with those messages read.
	if r := roomNamed(t, store, l.bob, "General"); r.LastReadSeq == nil || *r.LastReadSeq != 0 || *r.UnreadCount != 2 {
		t.Errorf("bob's General before any marker: %s, want last_read 0 unread 2 (one, three)", unread(r))
	}

	apply(t, store, l.rest)

	// RoomUpdated: the name from the first update, the description cleared by the second;
	// updated_at is the latest activity (the last message came after the updates).
	room, err := store.Room(ctx, l.general)
	if err != nil {
		t.Fatalf("Room(general): %v", err)
	}
	if room.Name != "Lounge" || room.Description != "" {
		t.Errorf("general = %q / %q, want Lounge with no description", room.Name, room.Description)
	}
	// UserJoinedRoom ×3, MemberKicked (carol), UserBanned (dave; erin was no member).
	if room.MemberCount != 2 {
		t.Errorf("general member_count = %d, want 2 (alice, bob)", room.MemberCount)
	}
	// RoomDeleted.
	if _, err := store.Room(ctx, l.secret); !errors.Is(err, readmodel.ErrRoomDeleted) || errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Room(secret) error = %v, want ErrRoomDeleted", err)
	}

	// MemberRoleChanged, MemberKicked, UserBanned, UserJoinedRoom by invitation.
	for _, tc := range []struct {
		room, user uuid.UUID
		want       string
	}{
		{l.general, l.alice, domain.RoleOwner}, {l.general, l.bob, domain.RoleAdmin}, {l.general, l.carol, ""},
		{l.general, l.dave, ""}, {l.general, l.erin, ""}, {l.secret, l.carol, domain.RoleMember}, {uuid.New(), l.alice, ""},
	} {
		if role, err := store.MemberRole(ctx, tc.room, tc.user); err != nil || role != tc.want {
			t.Errorf("MemberRole(%s) = %q, %v; want %q", tc.user, role, err, tc.want)
		}
	}

	// UserBanned, UserUnbanned; bans keep who and why.
	for _, tc := range []struct {
		room, user uuid.UUID
		want       bool
	}{
		{l.general, l.dave, true}, {l.general, l.erin, false}, {l.secret, l.erin, true}, {l.general, l.carol, false},
	} {
		if ok, err := store.IsBanned(ctx, tc.room, tc.user); err != nil || ok != tc.want {
			t.Errorf("IsBanned(%s) = %v, %v; want %v", tc.user, ok, err, tc.want)
		}
	}
	var by uuid.UUID
	var reason string
	if err := pool.QueryRow(ctx, `SELECT banned_by, reason FROM room_bans WHERE room_id = $1 AND user_id = $2`, l.general, l.dave).
		Scan(&by, &reason); err != nil || by != l.alice || reason != "spam" {
		t.Errorf("dave's ban: by %s reason %q, %v; want alice, spam", by, reason, err)
	}

	// Invitations end with a join or a ban.
	for _, user := range []uuid.UUID{l.carol, l.erin} {
		if ok, err := store.IsInvited(ctx, l.secret, user); err != nil || ok {
			t.Errorf("IsInvited(secret, %s) = %v, %v after join / ban; want false", user, ok, err)
		}
	}

	// MessageUpdated and MessageDeleted; the deleted message's content is gone from the table too.
	msgs, _, err := store.Messages(ctx, l.general, readmodel.HistoryQuery{})
	if err != nil || len(msgs) != 4 {
		t.Fatalf("history = %d messages, %v; want 4", len(msgs), err)
	}
	if m := msgs[1]; m.ID != l.m2 || m.Content != "two, edited" || m.EditedAt == nil || !m.EditedAt.Equal(l.editedAt) || m.Deleted {
		t.Errorf("edited message = %+v, want content %q edited at %v", m, "two, edited", l.editedAt)
	}
	if m := msgs[2]; m.ID != l.m3 || m.Content != "" || !m.Deleted {
		t.Errorf("deleted message = %+v, want deleted with no content", m)
	}
	if m := msgs[0]; m.Content != "one" || m.EditedAt != nil || m.Deleted {
		t.Errorf("untouched message = %+v", m)
	}
	var stored string
	if err := pool.QueryRow(ctx, `SELECT content FROM messages WHERE id = $1`, l.m3).Scan(&stored); err != nil || stored != "" {
		t.Errorf("stored content of the deleted message = %q, %v; want empty", stored, err)
	}

	// ReadMarkerUpdated: bob read up to 2; unread are alice's four (three is deleted, two is his).
	if r := roomNamed(t, store, l.bob, "Lounge"); r.LastReadSeq == nil || *r.LastReadSeq != 2 || *r.UnreadCount != 1 {
		t.Errorf("bob's Lounge = %s, want last_read 2 unread 1", unread(r))
	}

	// UserProfileUpdated: given fields change, nil ones stay, "" clears (the display name back
	// to the username).
	bob, err := store.UserByID(ctx, l.bob)
	if err != nil || bob.DisplayName != "Bobby" || bob.AvatarURL != "https://cdn.example/bob.png" || bob.Email != "" {
		t.Errorf("bob = %+v, %v; want Bobby with an avatar and no email", bob, err)
	}
	alice, err := store.UserByID(ctx, l.alice)
	if err != nil || alice.DisplayName != "alice" || alice.AvatarURL != "" || alice.Email != "alice@example.com" {
		t.Errorf("alice = %+v, %v; want display name alice, no avatar, her email", alice, err)
	}
	members, err := store.Members(ctx, l.general)
	if err != nil || len(members) != 2 || members[1].User.AvatarURL != "https://cdn.example/bob.png" {
		t.Errorf("members = %+v, %v; want alice and bob with his avatar", members, err)
	}

	// A deleted room leaves its members' subscriptions.
	if ids, err := store.RoomIDsOf(ctx, l.carol); err != nil || len(ids) != 0 {
		t.Errorf("RoomIDsOf(carol) = %v, %v; want none (kicked from General, Secret deleted)", ids, err)
	}
	if ids, err := store.RoomIDsOf(ctx, l.alice); err != nil || !slices.Equal(ids, []uuid.UUID{l.general}) {
		t.Errorf("RoomIDsOf(alice) = %v, %v; want [general]", ids, err)
	}
	// Alice created General and Secret and deleted Secret; bob is an admin of General, not its owner.
	if n, err := store.RoomsOwnedBy(ctx, l.alice); err != nil || n != 1 {
		t.Errorf("RoomsOwnedBy(alice) = %d, %v; want 1 (Secret deleted)", n, err)
	}
	if n, err := store.RoomsOwnedBy(ctx, l.bob); err != nil || n != 0 {
		t.Errorf("RoomsOwnedBy(bob) = %d, %v; want 0", n, err)
	}
}

// Applying a batch that holds every event type again, or again over the surviving rows with the
// checkpoints gone (a rebuild that kept the tables), changes nothing.
func TestApplyBatchIsIdempotentWithEveryEvent(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)
	l := newChatLife(t, log)
	batch := concat(l.opened, l.rest)
	types := map[string]bool{}
	for _, r := range batch {
		types[r.Event.Type] = true
	}
	for _, typ := range []string{
		domain.TypeRoomCreated, domain.TypeRoomUpdated, domain.TypeRoomDeleted, domain.TypeUserJoinedRoom,
		domain.TypeMemberRoleChanged, domain.TypeMemberKicked, domain.TypeUserBanned, domain.TypeUserUnbanned,
		domain.TypeUserInvited, domain.TypeMessageSent, domain.TypeMessageUpdated, domain.TypeMessageDeleted,
		domain.TypeReadMarkerUpdated, domain.TypeUserRegistered, domain.TypeUserProfileUpdated,
	} {
		if !types[typ] {
			t.Errorf("the batch has no %s", typ)
		}
	}

	if err := store.ApplyBatch(ctx, readmodel.Projection, batch); err != nil {
		t.Fatalf("first apply: %v", err)
	}
	first := dump(t, pool)
	if err := store.ApplyBatch(ctx, readmodel.Projection, batch); err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if second := dump(t, pool); second != first {
		t.Errorf("state changed on redelivery:\nfirst:\n%s\nsecond:\n%s", first, second)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM projection_checkpoints`); err != nil {
		t.Fatal(err)
	}
	// Halfway through such a replay, the edit of a message deleted later must not bring its
	// content back: what its author took back never shows again.
	if err := store.ApplyBatch(ctx, readmodel.Projection, l.opened); err != nil {
		t.Fatalf("replay of the first part: %v", err)
	}
	msgs, _, err := store.Messages(ctx, l.general, readmodel.HistoryQuery{})
	if err != nil || len(msgs) != 4 || msgs[2].ID != l.m3 || !msgs[2].Deleted || msgs[2].Content != "" {
		t.Errorf("halfway through a replay the deleted message is %+v, %v; want still deleted with no content", msgs, err)
	}
	var stored string
	if err := pool.QueryRow(ctx, `SELECT content FROM messages WHERE id = $1`, l.m3).Scan(&stored); err != nil || stored != "" {
		t.Errorf("halfway through a replay the deleted message's stored content is %q, %v; want empty", stored, err)
	}
	if err := store.ApplyBatch(ctx, readmodel.Projection, l.rest); err != nil {
		t.Fatalf("replay of the rest: %v", err)
	}
	if replayed := dump(t, pool); replayed != first {
		t.Errorf("state changed on replay without checkpoints:\nfirst:\n%s\nreplayed:\n%s", first, replayed)
	}

	// The same life applied in many small batches ends in the same state as one big batch.
	pool2 := pgtest.New(t)
	store2 := readmodel.NewStore(pool2)
	for i := 0; i < len(batch); i += 3 {
		apply(t, store2, batch[i:min(i+3, len(batch))])
	}
	if small := dump(t, pool2); small != first {
		t.Errorf("state differs when applied in batches of 3:\none batch:\n%s\nsmall batches:\n%s", first, small)
	}
}

// roomNamed is viewer's listing entry of the room called name.
func roomNamed(t *testing.T, store *readmodel.Store, viewer uuid.UUID, name string) roomView {
	t.Helper()
	rooms, _, err := store.ListRooms(context.Background(), viewer, readmodel.RoomListQuery{})
	if err != nil {
		t.Fatalf("ListRooms: %v", err)
	}
	for _, r := range rooms {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("%s is not in the listing of %s", name, viewer)
	return roomView{}
}

type roomView = projections.Room

// unread renders a listing entry's caller-specific fields.
func unread(r roomView) string {
	show := func(p *int64) string {
		if p == nil {
			return "absent"
		}
		return strconv.FormatInt(*p, 10)
	}
	return fmt.Sprintf("%s: last_read_seq %s, unread_count %s", r.Name, show(r.LastReadSeq), show(r.UnreadCount))
}
