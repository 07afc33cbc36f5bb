package domain_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// Apply folds every event into what the accessors show.
func TestRoomApplyAccessors(t *testing.T) {
	r := roomOf(t, privateRoom(
		joined(bob, domain.RoleMember),
		joined(dave, domain.RoleMember), roleChanged(dave, domain.RoleAdmin, alice),
		joined(ted, domain.RoleMember), kicked(ted, dave),
		invited(erin, alice),
		invited(uma, alice), joined(uma, domain.RoleMember),
		joined(frank, domain.RoleMember), banned(frank, alice, "spam"),
		banned(vic, alice, ""), unbanned(vic, alice),
		roomUpdated(str("Renamed"), nil, alice),
		roomUpdated(nil, str(""), dave),
		sentMsg(msg1, bob, 1),
		sent("reply", dave, "re", domain.MessageText, ptr(msg1), 2, ""),
		msgUpdated(msg1, bob, 1, "edited", bob),
		msgDeleted(msg1, 1, alice),
		readMarker(bob, 2), readMarker(bob, 1), // a stale marker event never moves it back
	)...)
	if !r.Exists() || r.IsDeleted() || !r.IsPrivate() || !r.HasPassword() || r.OwnerID() != alice {
		t.Errorf("settings: exists %v deleted %v private %v password %v owner %s", r.Exists(), r.IsDeleted(), r.IsPrivate(), r.HasPassword(), r.OwnerID())
	}
	if r.Name() != "Renamed" || r.Description() != "" {
		t.Errorf("name %q description %q", r.Name(), r.Description())
	}
	for user, role := range map[uuid.UUID]string{
		alice: domain.RoleOwner, bob: domain.RoleMember, dave: domain.RoleAdmin, uma: domain.RoleMember,
		ted: "", erin: "", frank: "", vic: "", carol: "",
	} {
		if got := r.Role(user); got != role {
			t.Errorf("Role(%s) = %q, want %q", names[user], got, role)
		}
		if r.IsMember(user) != (role != "") {
			t.Errorf("IsMember(%s) = %v", names[user], r.IsMember(user))
		}
	}
	if r.MemberCount() != 4 {
		t.Errorf("MemberCount %d, want 4", r.MemberCount())
	}
	if !r.IsBanned(frank) || r.IsBanned(vic) || r.IsBanned(ted) {
		t.Errorf("bans: frank %v vic %v ted %v", r.IsBanned(frank), r.IsBanned(vic), r.IsBanned(ted))
	}
	if !r.IsInvited(erin) || r.IsInvited(uma) || r.IsInvited(bob) {
		t.Errorf("invitations: erin %v uma (consumed) %v bob %v", r.IsInvited(erin), r.IsInvited(uma), r.IsInvited(bob))
	}
	if !r.CreatedAt().Equal(nowUTC) {
		t.Errorf("CreatedAt %v, want %v", r.CreatedAt(), nowUTC)
	}
	for user, name := range map[uuid.UUID]string{alice: "alice", bob: "bob", dave: "dave", uma: "uma", ted: "", frank: "", erin: "", carol: ""} {
		if got := r.Username(user); got != name {
			t.Errorf("Username(%s) = %q, want %q (members only, as they joined)", names[user], got, name)
		}
	}
	if r.ReadMarker(bob) != 2 || r.ReadMarker(dave) != 0 {
		t.Errorf("markers: bob %d dave %d", r.ReadMarker(bob), r.ReadMarker(dave))
	}
	if r.LastSeq() != 2 {
		t.Errorf("LastSeq %d", r.LastSeq())
	}
	m1, ok := r.Message(msg1)
	if !ok || !m1.Deleted || m1.SenderID != bob || m1.Seq != 1 || m1.MessageType != domain.MessageText || m1.ReplyToMessageID != nil || !m1.CreatedAt.Equal(nowUTC) {
		t.Errorf("Message(msg1) = %#v, %v", m1, ok)
	}
	m2, ok := r.Message(domain.MessageIDFor(cid("reply")))
	if !ok || m2.Deleted || m2.SenderID != dave || m2.Seq != 2 || m2.ReplyToMessageID == nil || *m2.ReplyToMessageID != msg1 {
		t.Errorf("Message(reply) = %#v, %v", m2, ok)
	}
	// The accessor hands out a copy.
	*m2.ReplyToMessageID = msg3
	if again, _ := r.Message(m2.ID); *again.ReplyToMessageID != msg1 {
		t.Error("Message leaks the room's state")
	}
	if _, ok := r.Message(msg2); ok {
		t.Error("Message of an unknown id found")
	}

	d := roomOf(t, publicRoom(roomDeleted(alice))...)
	if !d.IsDeleted() || !d.Exists() {
		t.Errorf("deleted room: deleted %v exists %v", d.IsDeleted(), d.Exists())
	}
	if n := roomOf(t); n.Exists() || n.IsDeleted() || n.Role(alice) != "" {
		t.Error("an empty room claims to exist")
	}
}

// Apply is total: any event, in any state, even on a zero Room, folds without panicking and
// counts the version.
func TestRoomApplyTotal(t *testing.T) {
	odd := []domain.EventData{
		roleChanged(carol, domain.RoleAdmin, alice), // not a member
		msgDeleted(msg3, 9, alice),                  // unknown message
		kicked(carol, alice),
		unbanned(carol, alice),
		readMarker(carol, 5),
		registered("alice", "Alice", ""), // a user event on a room
	}
	samples := sampleEvents()
	for _, name := range sortedKeys(samples) {
		odd = append(odd, samples[name].Data)
	}
	var zero domain.Room
	for i, e := range givenEvents(domain.AggregateRoom, roomID, odd...) {
		zero.Apply(e)
		if zero.Version() != int64(i+1) {
			t.Fatalf("after event %d (%s) version %d", i, e.Type, zero.Version())
		}
	}
	if zero.IsMember(carol) {
		t.Error("a role change of a non-member made them a member")
	}
}

// A whole life with every command: each accepted command's events are applied before the next;
// versions count on without gaps and the no-op mark_read adds nothing.
func TestRoomLifeWithModeration(t *testing.T) {
	agg := domain.NewAggregate(domain.AggregateRoom, roomID)
	steps := []struct {
		key    string
		actor  uuid.UUID
		p      domain.CommandData
		code   string
		events int
	}{
		{"a", alice, domain.CreateRoom{Name: "Secret", IsPrivate: true, PasswordHash: roomHash}, "", 2},
		{"b", bob, domain.JoinRoom{}, domain.CodeWrongPassword, 0},
		{"c", bob, domain.JoinRoom{PasswordHash: roomHash}, "", 1},
		{"d", alice, domain.SetRole{UserID: bob, Role: domain.RoleAdmin}, "", 1},
		{"e", bob, domain.InviteUser{UserID: carol}, "", 1},
		{"f", carol, domain.JoinRoom{}, "", 1},
		{"g", carol, domain.SendMessage{Content: "hello"}, "", 1},
		{"h", bob, domain.MarkRead{Seq: 1}, "", 1},
		{"i", bob, domain.MarkRead{Seq: 1}, "", 0},
		{"j", carol, domain.EditMessage{MessageID: domain.MessageIDFor(cid("g")), Content: "hello!"}, "", 1},
		{"k", bob, domain.DeleteMessage{MessageID: domain.MessageIDFor(cid("g"))}, "", 1},
		{"l", bob, domain.BanMember{UserID: carol, Reason: "rude"}, "", 1},
		{"m", carol, domain.JoinRoom{PasswordHash: roomHash}, domain.CodeForbidden, 0},
		{"n", bob, domain.UnbanMember{UserID: carol}, "", 1},
		{"o", carol, domain.JoinRoom{PasswordHash: roomHash}, "", 1},
		{"p", bob, domain.KickMember{UserID: carol}, "", 1},
		{"q", alice, domain.UpdateRoom{Description: str("hush")}, "", 1},
		{"r", alice, domain.LeaveRoom{}, domain.CodeForbidden, 0},
		{"s", domain.SystemActorID, domain.SendMessage{Content: "closing", MessageType: domain.MessageSystem}, "", 1},
		{"t", alice, domain.DeleteRoom{}, "", 1},
		{"u", alice, domain.SendMessage{Content: "anyone?"}, domain.CodeRoomDeleted, 0},
	}
	var all []domain.Event
	for _, s := range steps {
		evs, err := agg.Decide(roomCmd(s.key, s.actor, s.p), now)
		if domain.CodeOf(err) != s.code || (s.code == "" && err != nil) {
			t.Fatalf("step %s: want %q, got %v", s.key, s.code, err)
		}
		if len(evs) != s.events {
			t.Fatalf("step %s: %d events, want %d", s.key, len(evs), s.events)
		}
		for _, e := range evs {
			agg.Apply(e)
		}
		all = append(all, evs...)
	}
	ids := map[uuid.UUID]bool{}
	for i, e := range all {
		if e.Version != int64(i+1) {
			t.Errorf("event %d (%s): version %d, want %d", i, e.Type, e.Version, i+1)
		}
		if ids[e.ID] {
			t.Errorf("duplicate event id %s", e.ID)
		}
		ids[e.ID] = true
	}
	if agg.Version() != int64(len(all)) {
		t.Errorf("version %d after %d events", agg.Version(), len(all))
	}
	r := agg.(*domain.Room)
	if !r.IsDeleted() || r.LastSeq() != 2 || r.Description() != "hush" || r.IsMember(carol) || r.Role(bob) != domain.RoleAdmin || r.ReadMarker(bob) != 1 {
		t.Errorf("final state: deleted %v lastSeq %d desc %q carol %v bob %q marker %d",
			r.IsDeleted(), r.LastSeq(), r.Description(), r.IsMember(carol), r.Role(bob), r.ReadMarker(bob))
	}
}
