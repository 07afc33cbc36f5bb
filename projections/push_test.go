package projections_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

var (
	at      = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)
	created = at.Add(-time.Hour)
	roomID  = uuid.MustParse("11111111-1111-4111-8111-111111111111")
	alice   = uuid.MustParse("aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa")
	bob     = uuid.MustParse("bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb")
	msgID   = uuid.MustParse("0e000000-0000-4000-8000-000000000001")
	replyTo = uuid.MustParse("0e000000-0000-4000-8000-000000000002")
	cmdID   = uuid.MustParse("0c000000-0000-4000-8000-0000000000cc")
)

func envelope(aggType string, aggID uuid.UUID, d domain.EventData) domain.Event {
	return domain.Event{
		ID: uuid.New(), Type: d.EventType(), AggregateType: aggType, AggregateID: aggID, Version: 7,
		OccurredAt: at, ActorID: alice, CommandID: cmdID, SchemaVersion: domain.CurrentSchemaVersion, Data: d,
	}
}

// pushCase is the push an event causes: its routing and its frame as the client reads it.
type pushCase struct {
	name   string
	event  domain.EventData
	none   bool // no push at all
	kind   string
	target string
	userID uuid.UUID // the user whose sockets the gateway (un)subscribes or targets
	frame  string    // the frame's JSON, exactly
}

func pushCases() []pushCase {
	reply := replyTo
	return []pushCase{
		{name: "MessageSent", event: domain.MessageSent{RoomID: roomID, Message: domain.MessageData{
			ID: msgID, RoomID: roomID, SenderID: bob, Content: "hi 界", MessageType: domain.MessageText, Seq: 3,
			ClientMsgID: "c-1", CreatedAt: created}},
			kind: "message",
			frame: `{"type":"message","message":{"id":"0e000000-0000-4000-8000-000000000001",
				"room_id":"11111111-1111-4111-8111-111111111111","sender_id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
				"content":"hi 界","message_type":"text","reply_to_message_id":null,"seq":3,
				"created_at":"2025-03-14T14:09:26.535897Z","edited_at":null,"deleted":false}}`},
		{name: "MessageUpdated", event: domain.MessageUpdated{RoomID: roomID, MessageID: msgID, NewContent: "edited",
			UpdatedBy: bob, UpdatedAt: at, Seq: 3, SenderID: bob, MessageType: domain.MessageImage,
			ReplyToMessageID: &reply, CreatedAt: created},
			kind: "message_updated",
			frame: `{"type":"message_updated","message":{"id":"0e000000-0000-4000-8000-000000000001",
				"room_id":"11111111-1111-4111-8111-111111111111","sender_id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
				"content":"edited","message_type":"image","reply_to_message_id":"0e000000-0000-4000-8000-000000000002",
				"seq":3,"created_at":"2025-03-14T14:09:26.535897Z","edited_at":"2025-03-14T15:09:26.535897Z",
				"deleted":false}}`},
		{name: "MessageDeleted", event: domain.MessageDeleted{RoomID: roomID, MessageID: msgID, Seq: 3, DeletedBy: alice, DeletedAt: at},
			kind: "message_deleted",
			frame: `{"type":"message_deleted","room_id":"11111111-1111-4111-8111-111111111111",
				"message_id":"0e000000-0000-4000-8000-000000000001","seq":3}`},
		{name: "RoomUpdated", event: domain.RoomUpdated{RoomID: roomID, Name: ptr("Lounge"), UpdatedBy: alice, UpdatedAt: at,
			Room: &domain.RoomState{Name: "Lounge", Description: "all things", OwnerID: alice, IsPrivate: true, MemberCount: 4, CreatedAt: created}},
			kind: "room_updated",
			frame: `{"type":"room_updated","room":{"id":"11111111-1111-4111-8111-111111111111","name":"Lounge",
				"description":"all things","owner_id":"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa","is_private":true,
				"member_count":4,"created_at":"2025-03-14T14:09:26.535897Z","updated_at":"2025-03-14T15:09:26.535897Z"}}`},
		{name: "RoomDeleted", event: domain.RoomDeleted{RoomID: roomID, DeletedBy: alice, DeletedAt: at},
			kind:  "room_deleted",
			frame: `{"type":"room_deleted","room_id":"11111111-1111-4111-8111-111111111111"}`},
		{name: "UserJoinedRoom", event: domain.UserJoinedRoom{RoomID: roomID, UserID: bob, Username: "bob", Role: domain.RoleMember, JoinedAt: at},
			kind: "user_joined", userID: bob,
			frame: `{"type":"user_joined","room_id":"11111111-1111-4111-8111-111111111111",
				"user_id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb","username":"bob"}`},
		{name: "UserLeftRoom", event: domain.UserLeftRoom{RoomID: roomID, UserID: bob, Username: "bob", LeftAt: at},
			kind: "user_left", userID: bob,
			frame: `{"type":"user_left","room_id":"11111111-1111-4111-8111-111111111111",
				"user_id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb","username":"bob"}`},
		{name: "MemberKicked", event: domain.MemberKicked{RoomID: roomID, UserID: bob, Username: "Bobby", KickedBy: alice},
			kind: "user_left", userID: bob,
			frame: `{"type":"user_left","room_id":"11111111-1111-4111-8111-111111111111",
				"user_id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb","username":"Bobby"}`},
		{name: "UserBanned", event: domain.UserBanned{RoomID: roomID, UserID: bob, Username: "Bobby", WasMember: true, BannedBy: alice, Reason: "spam"},
			kind: "user_left", userID: bob,
			frame: `{"type":"user_left","room_id":"11111111-1111-4111-8111-111111111111",
				"user_id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb","username":"Bobby"}`},
		{name: "UserBanned ahead of time", event: domain.UserBanned{RoomID: roomID, UserID: bob, BannedBy: alice}, none: true},
		{name: "MemberRoleChanged", event: domain.MemberRoleChanged{RoomID: roomID, UserID: bob, Role: domain.RoleAdmin, ChangedBy: alice},
			kind: "member_updated",
			frame: `{"type":"member_updated","room_id":"11111111-1111-4111-8111-111111111111",
				"user_id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb","role":"admin"}`},
		{name: "ReadMarkerUpdated", event: domain.ReadMarkerUpdated{RoomID: roomID, UserID: bob, Seq: 42},
			kind: "read_marker", target: projections.TargetUser, userID: bob,
			frame: `{"type":"read_marker","room_id":"11111111-1111-4111-8111-111111111111","seq":42}`},
		{name: "RoomCreated", event: domain.RoomCreated{RoomID: roomID, Name: "G", OwnerID: alice, CreatedAt: at}, none: true},
		{name: "UserInvited", event: domain.UserInvited{RoomID: roomID, UserID: bob, InvitedBy: alice}, none: true},
		{name: "UserUnbanned", event: domain.UserUnbanned{RoomID: roomID, UserID: bob, UnbannedBy: alice}, none: true},
		{name: "UserRegistered", event: domain.UserRegistered{UserID: bob, Username: "bob", DisplayName: "Bob", RegisteredAt: at}, none: true},
		{name: "UserProfileUpdated", event: domain.UserProfileUpdated{UserID: bob, DisplayName: ptr("B"), UpdatedAt: at}, none: true},
	}
}

func ptr[T any](v T) *T { return &v }

func TestPushesOf(t *testing.T) {
	for _, tc := range pushCases() {
		t.Run(tc.name, func(t *testing.T) {
			aggType, aggID := domain.AggregateRoom, roomID
			if tc.event.EventType() == domain.TypeUserRegistered || tc.event.EventType() == domain.TypeUserProfileUpdated {
				aggType, aggID = domain.AggregateUser, bob
			}
			pushes, err := projections.PushesOf(envelope(aggType, aggID, tc.event))
			if err != nil {
				t.Fatalf("PushesOf: %v", err)
			}
			if tc.none {
				if len(pushes) != 0 {
					t.Fatalf("pushes = %+v, want none", pushes)
				}
				return
			}
			if len(pushes) != 1 {
				t.Fatalf("%d pushes, want 1: %+v", len(pushes), pushes)
			}
			p := pushes[0]
			if p.Kind != tc.kind || p.Target != tc.target || p.RoomID != roomID || p.UserID != tc.userID || p.CommandID != cmdID {
				t.Errorf("push kind %q target %q room %s user %s command %s; want %q %q %s %s %s",
					p.Kind, p.Target, p.RoomID, p.UserID, p.CommandID, tc.kind, tc.target, roomID, tc.userID, cmdID)
			}
			sameJSON(t, p.Frame, tc.frame)
			// The frame's type is the push's kind: the gateway routes by one, the client by the other.
			var typ struct{ Type string }
			if err := json.Unmarshal(p.Frame, &typ); err != nil || typ.Type != p.Kind {
				t.Errorf("frame type %q, push kind %q", typ.Type, p.Kind)
			}
		})
	}
}

// Every event of the room and user aggregates has a case above (the push projector reads their
// topics), and each of those types is one the domain knows.
func TestPushCasesCoverRoomAndUserEvents(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range pushCases() {
		covered[tc.event.EventType()] = true
	}
	known := map[string]bool{}
	for _, typ := range domain.EventTypes() {
		known[typ] = true
	}
	for _, typ := range []string{
		domain.TypeRoomCreated, domain.TypeRoomUpdated, domain.TypeRoomDeleted, domain.TypeUserJoinedRoom,
		domain.TypeUserLeftRoom, domain.TypeMemberRoleChanged, domain.TypeMemberKicked, domain.TypeUserBanned,
		domain.TypeUserUnbanned, domain.TypeUserInvited, domain.TypeMessageSent, domain.TypeMessageUpdated,
		domain.TypeMessageDeleted, domain.TypeReadMarkerUpdated, domain.TypeUserRegistered, domain.TypeUserProfileUpdated,
	} {
		if !covered[typ] {
			t.Errorf("no push case for event type %s", typ)
		}
		if !known[typ] {
			t.Errorf("event type %s is not one the domain knows", typ)
		}
	}
}

// The room_updated frame shows the whole room as the aggregate left it, though the push
// projector keeps no state: the domain writes the room's state into RoomUpdated.
func TestRoomUpdatedPushFromTheDomain(t *testing.T) {
	room := domain.NewRoom(roomID)
	decide := func(actor uuid.UUID, name string, p domain.CommandData) []domain.Event {
		t.Helper()
		evs, err := room.Decide(domain.NewCommand(uuid.New(), roomID, actor, name, at, p), at)
		if err != nil {
			t.Fatalf("%T: %v", p, err)
		}
		for _, e := range evs {
			room.Apply(e)
		}
		return evs
	}
	decide(alice, "alice", domain.CreateRoom{Name: "General", Description: "all things", IsPrivate: true})
	decide(alice, "alice", domain.InviteUser{UserID: bob})
	decide(bob, "bob", domain.JoinRoom{})
	later := at.Add(time.Minute)
	evs, err := room.Decide(domain.NewCommand(uuid.New(), roomID, alice, "alice", later, domain.UpdateRoom{Description: ptr("new topic")}), later)
	if err != nil || len(evs) != 1 {
		t.Fatalf("update: %v, %v", evs, err)
	}
	pushes, err := projections.PushesOf(evs[0])
	if err != nil || len(pushes) != 1 {
		t.Fatalf("PushesOf: %v, %v", pushes, err)
	}
	sameJSON(t, pushes[0].Frame, `{"type":"room_updated","room":{"id":"11111111-1111-4111-8111-111111111111",
		"name":"General","description":"new topic","owner_id":"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa","is_private":true,
		"member_count":2,"created_at":"2025-03-14T15:09:26.535897Z","updated_at":"2025-03-14T15:10:26.535897Z"}}`)
}

// A RoomUpdated written before events carried the room's state still pushes what it says.
func TestRoomUpdatedPushWithoutState(t *testing.T) {
	pushes, err := projections.PushesOf(envelope(domain.AggregateRoom, roomID,
		domain.RoomUpdated{RoomID: roomID, Name: ptr("Lounge"), UpdatedBy: alice, UpdatedAt: at}))
	if err != nil || len(pushes) != 1 {
		t.Fatalf("PushesOf: %v, %v", pushes, err)
	}
	var f projections.RoomFrame
	if err := json.Unmarshal(pushes[0].Frame, &f); err != nil {
		t.Fatal(err)
	}
	if f.Room.ID != roomID || f.Room.Name != "Lounge" || !f.Room.UpdatedAt.Equal(at) {
		t.Errorf("room = %+v", f.Room)
	}
}

// The extended views keep the contract's shape: avatar_url only when set; unread_count and
// last_read_seq only when the listing sets them, even at zero.
func TestViewOptionalFields(t *testing.T) {
	u := projections.User{ID: bob, Username: "bob", DisplayName: "Bob", Status: "offline", CreatedAt: at}
	sameJSON(t, mustJSON(t, u), `{"id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb","username":"bob","display_name":"Bob",
		"status":"offline","created_at":"2025-03-14T15:09:26.535897Z"}`)
	u.AvatarURL = "https://cdn.example/b.png"
	sameJSON(t, mustJSON(t, u), `{"id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb","username":"bob","display_name":"Bob",
		"avatar_url":"https://cdn.example/b.png","status":"offline","created_at":"2025-03-14T15:09:26.535897Z"}`)

	r := projections.Room{ID: roomID, Name: "G", OwnerID: alice, MemberCount: 1, CreatedAt: at, UpdatedAt: at}
	const base = `"id":"11111111-1111-4111-8111-111111111111","name":"G","description":"",
		"owner_id":"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa","is_private":false,"member_count":1,
		"created_at":"2025-03-14T15:09:26.535897Z","updated_at":"2025-03-14T15:09:26.535897Z"`
	sameJSON(t, mustJSON(t, r), `{`+base+`}`)
	r.UnreadCount, r.LastReadSeq = ptr(int64(0)), ptr(int64(0))
	sameJSON(t, mustJSON(t, r), `{`+base+`,"unread_count":0,"last_read_seq":0}`)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameJSON fails unless got and want are the same JSON value: the same keys, no more, no fewer,
// with the same values.
func sameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("frame is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("expected JSON is malformed: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("frame\n got: %s\nwant: %s", got, want)
	}
}
