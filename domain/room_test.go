package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

func TestRoomCreate(t *testing.T) {
	const hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
	cjk100 := strings.Repeat("界", 100)
	create := func(key string, c domain.CreateRoom) domain.Command { return roomCmd(key, alice, c) }
	room := func(name, desc string, private bool, h string) domain.RoomCreated {
		return domain.RoomCreated{RoomID: roomID, Name: name, Description: desc, OwnerID: alice,
			IsPrivate: private, PasswordHash: h, CreatedAt: nowUTC}
	}
	owner := joined(alice, domain.RoleOwner)

	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{
			name: "public room: RoomCreated then owner joins with role owner (versions 1, 2)",
			when: create("c1", domain.CreateRoom{Name: "General", Description: "all things"}),
			then: []domain.EventData{room("General", "all things", false, ""), owner},
		},
		{
			name: "name and description are stored trimmed",
			when: create("c2", domain.CreateRoom{Name: " \t General \n", Description: "  all things  "}),
			then: []domain.EventData{room("General", "all things", false, ""), owner},
		},
		{
			name: "no description",
			when: create("c3", domain.CreateRoom{Name: "x"}),
			then: []domain.EventData{room("x", "", false, ""), owner},
		},
		{
			name: "private room without password",
			when: create("c4", domain.CreateRoom{Name: "Secret", IsPrivate: true}),
			then: []domain.EventData{room("Secret", "", true, ""), owner},
		},
		{
			name: "private room with password hash",
			when: create("c5", domain.CreateRoom{Name: "Secret", IsPrivate: true, PasswordHash: hash}),
			then: []domain.EventData{room("Secret", "", true, hash), owner},
		},
		{
			name: "public room with password rejected",
			when: create("c6", domain.CreateRoom{Name: "Open", PasswordHash: hash}),
			code: domain.CodeValidationFailed,
		},
		{
			name: "empty name rejected",
			when: create("c7", domain.CreateRoom{Name: ""}),
			code: domain.CodeValidationFailed,
		},
		{
			name: "whitespace-only name rejected",
			when: create("c8", domain.CreateRoom{Name: " \t\n\u3000 "}),
			code: domain.CodeValidationFailed,
		},
		{
			name: "name of 100 characters (runes) ok",
			when: create("c9", domain.CreateRoom{Name: cjk100}),
			then: []domain.EventData{room(cjk100, "", false, ""), owner},
		},
		{
			name: "name of 100 characters plus surrounding spaces ok",
			when: create("c10", domain.CreateRoom{Name: "   " + cjk100 + "   "}),
			then: []domain.EventData{room(cjk100, "", false, ""), owner},
		},
		{
			name: "name of 101 characters rejected",
			when: create("c11", domain.CreateRoom{Name: cjk100 + "x"}),
			code: domain.CodeValidationFailed,
		},
		{
			name: "description of 1000 characters ok",
			when: create("c12", domain.CreateRoom{Name: "n", Description: strings.Repeat("é", 1000)}),
			then: []domain.EventData{room("n", strings.Repeat("é", 1000), false, ""), owner},
		},
		{
			name: "description of 1001 characters rejected",
			when: create("c13", domain.CreateRoom{Name: "n", Description: strings.Repeat("é", 1001)}),
			code: domain.CodeValidationFailed,
		},
		{
			name:  "creating an existing room twice rejected",
			given: publicRoom(),
			when:  create("c14", domain.CreateRoom{Name: "General"}),
			code:  domain.CodeValidationFailed,
		},
		{
			name:  "creating again after members and messages rejected",
			given: publicRoom(joined(bob, domain.RoleMember), sentMsg(msg1, bob, 1)),
			when:  roomCmd("c15", bob, domain.CreateRoom{Name: "Mine now"}),
			code:  domain.CodeValidationFailed,
		},
	})
}

func TestRoomNotFound(t *testing.T) {
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{name: "join", when: roomCmd("n1", bob, domain.JoinRoom{}), code: domain.CodeRoomNotFound},
		{name: "leave", when: roomCmd("n2", bob, domain.LeaveRoom{}), code: domain.CodeRoomNotFound},
		{name: "send", when: roomCmd("n3", bob, domain.SendMessage{Content: "hi"}), code: domain.CodeRoomNotFound},
		{name: "send by would-be owner", when: roomCmd("n4", alice, domain.SendMessage{Content: "hi"}), code: domain.CodeRoomNotFound},
	})
}

func TestRoomJoinLeave(t *testing.T) {
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{
			name:  "join a public room: UserJoinedRoom with role member",
			given: publicRoom(),
			when:  roomCmd("j1", bob, domain.JoinRoom{}),
			then:  []domain.EventData{joined(bob, domain.RoleMember)},
		},
		{
			name:  "a second user joins too",
			given: publicRoom(joined(bob, domain.RoleMember)),
			when:  roomCmd("j2", carol, domain.JoinRoom{}),
			then:  []domain.EventData{joined(carol, domain.RoleMember)},
		},
		{
			name:  "join twice: already_member",
			given: publicRoom(joined(bob, domain.RoleMember)),
			when:  roomCmd("j3", bob, domain.JoinRoom{}),
			code:  domain.CodeAlreadyMember,
		},
		{
			name:  "owner joins own room: already_member",
			given: publicRoom(),
			when:  roomCmd("j4", alice, domain.JoinRoom{}),
			code:  domain.CodeAlreadyMember,
		},
		{
			name:  "join a private room with a password, without the hash: wrong_password",
			given: privateRoom(),
			when:  roomCmd("j5", bob, domain.JoinRoom{}),
			code:  domain.CodeWrongPassword,
		},
		{
			name:  "join an invite-only private room: forbidden",
			given: inviteOnlyRoom(),
			when:  roomCmd("j5b", bob, domain.JoinRoom{}),
			code:  domain.CodeForbidden,
		},
		{
			name:  "member leaves: UserLeftRoom",
			given: publicRoom(joined(bob, domain.RoleMember)),
			when:  roomCmd("l1", bob, domain.LeaveRoom{}),
			then:  []domain.EventData{left(bob)},
		},
		{
			name:  "owner cannot leave: forbidden (delete the room instead)",
			given: publicRoom(),
			when:  roomCmd("l2", alice, domain.LeaveRoom{}),
			code:  domain.CodeForbidden,
		},
		{
			name:  "member of a private room leaves",
			given: privateRoom(joined(bob, domain.RoleMember)),
			when:  roomCmd("l3", bob, domain.LeaveRoom{}),
			then:  []domain.EventData{left(bob)},
		},
		{
			name:  "leave when never a member: not_a_member",
			given: publicRoom(),
			when:  roomCmd("l4", bob, domain.LeaveRoom{}),
			code:  domain.CodeNotAMember,
		},
		{
			name:  "leave twice: not_a_member",
			given: publicRoom(joined(bob, domain.RoleMember), left(bob)),
			when:  roomCmd("l5", bob, domain.LeaveRoom{}),
			code:  domain.CodeNotAMember,
		},
		{
			name:  "leave then join again works",
			given: publicRoom(joined(bob, domain.RoleMember), left(bob)),
			when:  roomCmd("j6", bob, domain.JoinRoom{}),
			then:  []domain.EventData{joined(bob, domain.RoleMember)},
		},
		{
			name:  "leave, rejoin, leave again works",
			given: publicRoom(joined(bob, domain.RoleMember), left(bob), joined(bob, domain.RoleMember)),
			when:  roomCmd("l6", bob, domain.LeaveRoom{}),
			then:  []domain.EventData{left(bob)},
		},
		{
			name:  "another user's leave does not remove me",
			given: publicRoom(joined(bob, domain.RoleMember), joined(carol, domain.RoleMember), left(carol)),
			when:  roomCmd("j7", bob, domain.JoinRoom{}),
			code:  domain.CodeAlreadyMember,
		},
	})
}

func TestRoomSend(t *testing.T) {
	cjk4000 := strings.Repeat("界", 4000)
	send := func(key string, actor uuid.UUID, p domain.SendMessage) domain.Command { return roomCmd(key, actor, p) }
	withBob := publicRoom(joined(bob, domain.RoleMember))

	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{
			name:  "member sends: MessageSent seq 1, type text by default",
			given: withBob,
			when:  send("s1", bob, domain.SendMessage{Content: "hello"}),
			then:  []domain.EventData{sent("s1", bob, "hello", domain.MessageText, nil, 1, "")},
		},
		{
			name:  "owner sends",
			given: publicRoom(),
			when:  send("s2", alice, domain.SendMessage{Content: "welcome"}),
			then:  []domain.EventData{sent("s2", alice, "welcome", domain.MessageText, nil, 1, "")},
		},
		{
			name:  "member of a private room sends",
			given: privateRoom(joined(bob, domain.RoleMember)),
			when:  send("s3", bob, domain.SendMessage{Content: "psst"}),
			then:  []domain.EventData{sent("s3", bob, "psst", domain.MessageText, nil, 1, "")},
		},
		{
			name:  "content is stored trimmed",
			given: withBob,
			when:  send("s4", bob, domain.SendMessage{Content: " \n\t hello  world \r\n "}),
			then:  []domain.EventData{sent("s4", bob, "hello  world", domain.MessageText, nil, 1, "")},
		},
		{
			name:  "client_msg_id is carried",
			given: withBob,
			when:  send("s5", bob, domain.SendMessage{Content: "x", ClientMsgID: "c-123"}),
			then:  []domain.EventData{sent("s5", bob, "x", domain.MessageText, nil, 1, "c-123")},
		},
		{
			name:  "non-member: not_a_member",
			given: withBob,
			when:  send("s6", carol, domain.SendMessage{Content: "hi"}),
			code:  domain.CodeNotAMember,
		},
		{
			name:  "ex-member after leave: not_a_member",
			given: publicRoom(joined(bob, domain.RoleMember), sentMsg(msg1, bob, 1), left(bob)),
			when:  send("s7", bob, domain.SendMessage{Content: "hi"}),
			code:  domain.CodeNotAMember,
		},
		{
			name:  "non-member is refused before content is validated",
			given: withBob,
			when:  send("s8", carol, domain.SendMessage{Content: ""}),
			code:  domain.CodeNotAMember,
		},
		{
			name:  "rejoined member may send again",
			given: publicRoom(joined(bob, domain.RoleMember), sentMsg(msg1, bob, 1), left(bob), joined(bob, domain.RoleMember)),
			when:  send("s9", bob, domain.SendMessage{Content: "back"}),
			then:  []domain.EventData{sent("s9", bob, "back", domain.MessageText, nil, 2, "")},
		},
		{
			name:  "4000 CJK characters ok (counted in runes, not bytes)",
			given: withBob,
			when:  send("s10", bob, domain.SendMessage{Content: cjk4000}),
			then:  []domain.EventData{sent("s10", bob, cjk4000, domain.MessageText, nil, 1, "")},
		},
		{
			name:  "4000 characters plus surrounding whitespace ok",
			given: withBob,
			when:  send("s11", bob, domain.SendMessage{Content: "\n  " + cjk4000 + "  \n"}),
			then:  []domain.EventData{sent("s11", bob, cjk4000, domain.MessageText, nil, 1, "")},
		},
		{
			name:  "4001 CJK characters rejected",
			given: withBob,
			when:  send("s12", bob, domain.SendMessage{Content: cjk4000 + "界"}),
			code:  domain.CodeValidationFailed,
		},
		{
			name:  "4001 ASCII characters rejected",
			given: withBob,
			when:  send("s13", bob, domain.SendMessage{Content: strings.Repeat("a", 4001)}),
			code:  domain.CodeValidationFailed,
		},
		{
			name:  "1 character ok",
			given: withBob,
			when:  send("s14", bob, domain.SendMessage{Content: "界"}),
			then:  []domain.EventData{sent("s14", bob, "界", domain.MessageText, nil, 1, "")},
		},
		{
			name:  "empty content rejected",
			given: withBob,
			when:  send("s15", bob, domain.SendMessage{Content: ""}),
			code:  domain.CodeValidationFailed,
		},
		{
			name:  "whitespace-only content rejected",
			given: withBob,
			when:  send("s16", bob, domain.SendMessage{Content: " \t\r\n\u00a0\u3000 "}),
			code:  domain.CodeValidationFailed,
		},
		{
			name:  "invalid UTF-8 rejected",
			given: withBob,
			when:  send("s17", bob, domain.SendMessage{Content: "ok\xff\xfe"}),
			code:  domain.CodeValidationFailed,
		},
		{
			name:  "message_type text explicit",
			given: withBob,
			when:  send("s18", bob, domain.SendMessage{Content: "t", MessageType: domain.MessageText}),
			then:  []domain.EventData{sent("s18", bob, "t", domain.MessageText, nil, 1, "")},
		},
		{
			name:  "message_type image ok",
			given: withBob,
			when:  send("s19", bob, domain.SendMessage{Content: "https://x/cat.png", MessageType: domain.MessageImage}),
			then:  []domain.EventData{sent("s19", bob, "https://x/cat.png", domain.MessageImage, nil, 1, "")},
		},
		{
			name:  "message_type file ok",
			given: withBob,
			when:  send("s20", bob, domain.SendMessage{Content: "https://files.example/report.pdf", MessageType: domain.MessageFile}),
			then:  []domain.EventData{sent("s20", bob, "https://files.example/report.pdf", domain.MessageFile, nil, 1, "")},
		},
		{
			name:  "message_type system rejected (server only)",
			given: withBob,
			when:  send("s21", bob, domain.SendMessage{Content: "x", MessageType: domain.MessageSystem}),
			code:  domain.CodeValidationFailed,
		},
		{
			name:  "message_type system rejected for the owner too",
			given: publicRoom(),
			when:  send("s22", alice, domain.SendMessage{Content: "x", MessageType: domain.MessageSystem}),
			code:  domain.CodeValidationFailed,
		},
		{
			name:  "unknown message_type rejected",
			given: withBob,
			when:  send("s23", bob, domain.SendMessage{Content: "x", MessageType: "video"}),
			code:  domain.CodeValidationFailed,
		},
		{
			name:  "message_type is case-sensitive",
			given: withBob,
			when:  send("s24", bob, domain.SendMessage{Content: "x", MessageType: "TEXT"}),
			code:  domain.CodeValidationFailed,
		},
		{
			name:  "reply to an existing message of the room",
			given: publicRoom(joined(bob, domain.RoleMember), sentMsg(msg1, alice, 1)),
			when:  send("s25", bob, domain.SendMessage{Content: "re", ReplyToMessageID: ptr(msg1)}),
			then:  []domain.EventData{sent("s25", bob, "re", domain.MessageText, ptr(msg1), 2, "")},
		},
		{
			name:  "reply to own message",
			given: publicRoom(joined(bob, domain.RoleMember), sentMsg(msg1, bob, 1), sentMsg(msg2, alice, 2)),
			when:  send("s26", bob, domain.SendMessage{Content: "re", ReplyToMessageID: ptr(msg1)}),
			then:  []domain.EventData{sent("s26", bob, "re", domain.MessageText, ptr(msg1), 3, "")},
		},
		{
			name:  "reply to an unknown message: message_not_found",
			given: publicRoom(joined(bob, domain.RoleMember), sentMsg(msg1, alice, 1)),
			when:  send("s27", bob, domain.SendMessage{Content: "re", ReplyToMessageID: ptr(msg2)}),
			code:  domain.CodeMessageNotFound,
		},
		{
			name:  "reply in a room with no messages: message_not_found",
			given: withBob,
			when:  send("s28", bob, domain.SendMessage{Content: "re", ReplyToMessageID: ptr(msg1)}),
			code:  domain.CodeMessageNotFound,
		},
		{
			name:  "reply to the nil uuid: message_not_found",
			given: withBob,
			when:  send("s29", bob, domain.SendMessage{Content: "re", ReplyToMessageID: ptr(uuid.Nil)}),
			code:  domain.CodeMessageNotFound,
		},
		{
			name:  "seq continues after existing messages",
			given: publicRoom(joined(bob, domain.RoleMember), sentMsg(msg1, alice, 1), sentMsg(msg2, bob, 2)),
			when:  send("s30", bob, domain.SendMessage{Content: "third"}),
			then:  []domain.EventData{sent("s30", bob, "third", domain.MessageText, nil, 3, "")},
		},
	})
}

// A message of another room is unknown to this room: a reply to it is message_not_found.
func TestRoomSendReplyToOtherRoomsMessage(t *testing.T) {
	other := build(domain.AggregateRoom, otherID,
		domain.RoomCreated{RoomID: otherID, Name: "Other", OwnerID: alice, CreatedAt: nowUTC},
		domain.UserJoinedRoom{RoomID: otherID, UserID: alice, Username: "alice", Role: domain.RoleOwner, JoinedAt: nowUTC},
	)
	evs, err := other.Decide(domain.NewCommand(cid("o1"), otherID, alice, "alice", now, domain.SendMessage{Content: "elsewhere"}), now)
	if err != nil {
		t.Fatal(err)
	}
	otherMsg := evs[0].Data.(domain.MessageSent).Message.ID

	agg := build(domain.AggregateRoom, roomID, publicRoom(sentMsg(msg1, alice, 1))...)
	checkDecide(t, agg, 3, roomCmd("o2", alice, domain.SendMessage{Content: "re", ReplyToMessageID: &otherMsg}), nil, domain.CodeMessageNotFound)
}

func TestRoomRejectsForeignCommand(t *testing.T) {
	reg := domain.NewCommand(cid("f1"), roomID, alice, "alice", now, domain.RegisterUser{Username: "alice"})
	reg.AggregateType = domain.AggregateRoom
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{name: "register_user on an existing room", given: publicRoom(), when: reg, code: domain.CodeValidationFailed},
	})
}

// Runs a whole life of a room, applying each command's events before the next: versions count
// from 1 without gaps across mixed event types, seq is 1, 2, 3, and every event id is unique.
func TestRoomLifeVersionsAndSeq(t *testing.T) {
	agg := domain.NewAggregate(domain.AggregateRoom, roomID)
	steps := []struct {
		key   string
		actor uuid.UUID
		p     domain.CommandData
		code  string
	}{
		{"a", alice, domain.CreateRoom{Name: "General"}, ""},
		{"b", bob, domain.JoinRoom{}, ""},
		{"c", bob, domain.SendMessage{Content: "one"}, ""},
		{"d", carol, domain.SendMessage{Content: "nope"}, domain.CodeNotAMember},
		{"e", carol, domain.JoinRoom{}, ""},
		{"f", alice, domain.SendMessage{Content: "https://img.example/two.png", MessageType: domain.MessageImage}, ""},
		{"g", bob, domain.LeaveRoom{}, ""},
		{"h", bob, domain.SendMessage{Content: "gone"}, domain.CodeNotAMember},
		{"i", carol, domain.SendMessage{Content: "three"}, ""},
		{"j", bob, domain.JoinRoom{}, ""},
		{"k", bob, domain.SendMessage{Content: "four"}, ""},
	}
	var all []domain.Event
	for _, s := range steps {
		evs, err := agg.Decide(roomCmd(s.key, s.actor, s.p), now)
		if s.code != "" {
			if domain.CodeOf(err) != s.code {
				t.Fatalf("step %s: want %q, got %v", s.key, s.code, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %s: %v", s.key, err)
		}
		for _, e := range evs {
			agg.Apply(e)
		}
		all = append(all, evs...)
	}

	ids := map[uuid.UUID]bool{}
	var seqs []int64
	for i, e := range all {
		if e.Version != int64(i+1) {
			t.Errorf("event %d (%s): version %d, want %d", i, e.Type, e.Version, i+1)
		}
		if ids[e.ID] {
			t.Errorf("event %d: duplicate id %s", i, e.ID)
		}
		ids[e.ID] = true
		if m, ok := e.Data.(domain.MessageSent); ok {
			seqs = append(seqs, m.Message.Seq)
		}
	}
	if len(all) != 10 || agg.Version() != 10 {
		t.Errorf("want 10 events and version 10, got %d events, version %d", len(all), agg.Version())
	}
	want := []int64{1, 2, 3, 4}
	if len(seqs) != len(want) {
		t.Fatalf("seqs %v, want %v", seqs, want)
	}
	for i := range want {
		if seqs[i] != want[i] {
			t.Fatalf("seqs %v, want %v", seqs, want)
		}
	}
	if r, ok := agg.(*domain.Room); !ok || r.LastSeq() != 4 {
		t.Errorf("LastSeq after four messages: %v", agg)
	}
}

func TestRoomDeterministicIDs(t *testing.T) {
	given := publicRoom(joined(bob, domain.RoleMember), sentMsg(msg1, alice, 1))
	send := roomCmd("det", bob, domain.SendMessage{Content: "same", ClientMsgID: "k1"})

	first, err1 := build(domain.AggregateRoom, roomID, given...).Decide(send, now)
	second, err2 := build(domain.AggregateRoom, roomID, given...).Decide(send, now)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if len(first) != 1 || len(second) != 1 {
		t.Fatalf("want one event each, got %d and %d", len(first), len(second))
	}
	m1 := first[0].Data.(domain.MessageSent).Message
	m2 := second[0].Data.(domain.MessageSent).Message
	if first[0].ID != second[0].ID || m1.ID != m2.ID {
		t.Errorf("same command, different ids: event %s/%s message %s/%s", first[0].ID, second[0].ID, m1.ID, m2.ID)
	}
	if m1.ID != domain.MessageIDFor(send.ID) {
		t.Errorf("message id %s, want MessageIDFor(command id) %s", m1.ID, domain.MessageIDFor(send.ID))
	}
	if first[0].ID != domain.EventID(send.ID, 0) {
		t.Errorf("event id %s, want EventID(command id, 0)", first[0].ID)
	}

	other := send
	other.ID = cid("det-2")
	third, err := build(domain.AggregateRoom, roomID, given...).Decide(other, now)
	if err != nil {
		t.Fatal(err)
	}
	if third[0].ID == first[0].ID || third[0].Data.(domain.MessageSent).Message.ID == m1.ID {
		t.Errorf("a different command id gave the same ids")
	}

	// The two events of a create have distinct, deterministic ids.
	create := roomCmd("det-create", alice, domain.CreateRoom{Name: "G"})
	c1, _ := domain.NewAggregate(domain.AggregateRoom, roomID).Decide(create, now)
	c2, _ := domain.NewAggregate(domain.AggregateRoom, roomID).Decide(create, now)
	if len(c1) != 2 || c1[0].ID == c1[1].ID || c1[0].ID != c2[0].ID || c1[1].ID != c2[1].ID {
		t.Errorf("create ids not distinct or not deterministic: %v %v", c1, c2)
	}
	if domain.EventID(create.ID, 0) == domain.EventID(create.ID, 1) || domain.EventID(create.ID, 1) == domain.EventID(create.ID, 257) {
		t.Errorf("EventID collides across indexes")
	}
}

func TestSendCommandID(t *testing.T) {
	a := domain.SendCommandID(roomID, bob, "k1")
	if a != domain.SendCommandID(roomID, bob, "k1") {
		t.Fatal("SendCommandID is not deterministic")
	}
	for name, other := range map[string]uuid.UUID{
		"other client_msg_id": domain.SendCommandID(roomID, bob, "k2"),
		"other user":          domain.SendCommandID(roomID, carol, "k1"),
		"other room":          domain.SendCommandID(otherID, bob, "k1"),
		"empty client id":     domain.SendCommandID(roomID, bob, ""),
	} {
		if other == a {
			t.Errorf("%s: same SendCommandID", name)
		}
	}
}

func TestNewCommandEnvelope(t *testing.T) {
	c := domain.NewCommand(cid("env"), roomID, bob, "bob", now, domain.SendMessage{Content: "x"})
	if c.Type != domain.CmdSendMessage || c.AggregateType != domain.AggregateRoom || c.AggregateID != roomID ||
		c.ActorID != bob || c.ActorName != "bob" || !c.IssuedAt.Equal(now) || c.IssuedAt.Location() != time.UTC {
		t.Errorf("bad envelope %#v", c)
	}
	u := domain.NewCommand(cid("env2"), domain.UserIDFor("bob"), bob, "bob", now, domain.RegisterUser{Username: "bob"})
	if u.Type != domain.CmdRegisterUser || u.AggregateType != domain.AggregateUser {
		t.Errorf("bad register envelope %#v", u)
	}
	for _, p := range []domain.CommandData{domain.CreateRoom{}, domain.JoinRoom{}, domain.LeaveRoom{}} {
		if c := domain.NewCommand(cid("t"), roomID, bob, "bob", now, p); c.AggregateType != domain.AggregateRoom || c.Type != p.CommandType() {
			t.Errorf("%T: bad envelope %#v", p, c)
		}
	}
}
