package domain_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// Fixed inputs shared by the scenario tests. "now" is deliberately not in UTC: every time the
// domain writes must come out normalised to UTC.
var (
	now    = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.FixedZone("CET", 3600))
	nowUTC = now.UTC()

	roomID  = uuid.MustParse("11111111-1111-4111-8111-111111111111")
	otherID = uuid.MustParse("22222222-2222-4222-8222-222222222222") // another room
	alice   = uuid.MustParse("aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa") // owner
	bob     = uuid.MustParse("bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb")
	carol   = uuid.MustParse("cccccccc-cccc-4ccc-8ccc-cccccccccccc")
	dave    = uuid.MustParse("dddddddd-dddd-4ddd-8ddd-dddddddddddd") // made admin in the fixtures that need one
	erin    = uuid.MustParse("eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee") // invited
	frank   = uuid.MustParse("f0f0f0f0-f0f0-4f0f-8f0f-f0f0f0f0f0f0") // banned
	ted     = uuid.MustParse("7ed00000-0000-4000-8000-000000000007") // a plain member, target of moderation
	vic     = uuid.MustParse("71c00000-0000-4000-8000-000000000071") // banned, target of unban
	uma     = uuid.MustParse("0a0a0000-0000-4000-8000-0000000000aa") // a stranger, target of invitations

	msg1 = uuid.MustParse("0e000000-0000-4000-8000-000000000001")
	msg2 = uuid.MustParse("0e000000-0000-4000-8000-000000000002")
	msg3 = uuid.MustParse("0e000000-0000-4000-8000-000000000003")

	testNS = uuid.MustParse("7e570000-0000-4000-8000-000000000000")
)

// cid is the command id a test case names with a key, so expectations can derive ids from it.
func cid(key string) uuid.UUID { return uuid.NewSHA1(testNS, []byte("cmd:"+key)) }

// names maps the fixture users to their usernames (commands carry the actor's name).
var names = map[uuid.UUID]string{
	alice: "alice", bob: "bob", carol: "carol", dave: "dave", erin: "erin", frank: "frank", ted: "ted", vic: "vic", uma: "uma",
	domain.SystemActorID: "system",
}

// roomCmd is a command on the fixture room by actor, with id cid(key).
func roomCmd(key string, actor uuid.UUID, p domain.CommandData) domain.Command {
	return domain.NewCommand(cid(key), roomID, actor, names[actor], now, p)
}

// givenEvents wraps event data into envelopes numbered 1..n, as a store would hand them back.
func givenEvents(aggType string, aggID uuid.UUID, data ...domain.EventData) []domain.Event {
	out := make([]domain.Event, len(data))
	for i, d := range data {
		out[i] = domain.Event{
			ID:            uuid.NewSHA1(testNS, []byte{byte(i)}),
			Type:          d.EventType(),
			AggregateType: aggType,
			AggregateID:   aggID,
			Version:       int64(i + 1),
			OccurredAt:    nowUTC.Add(-time.Hour),
			ActorID:       alice,
			CommandID:     uuid.NewSHA1(testNS, []byte{'c', byte(i)}),
			SchemaVersion: domain.CurrentSchemaVersion,
			Data:          d,
		}
	}
	return out
}

// build is the aggregate after the given events.
func build(aggType string, aggID uuid.UUID, given ...domain.EventData) domain.Aggregate {
	agg := domain.NewAggregate(aggType, aggID)
	for _, e := range givenEvents(aggType, aggID, given...) {
		agg.Apply(e)
	}
	return agg
}

// scenario is one "given these events, when this command, then these events or this error".
type scenario struct {
	name  string
	given []domain.EventData
	when  domain.Command
	then  []domain.EventData // expected data, in order; envelopes are derived from `when`
	code  string             // expected contract error code; "" means the command is accepted
}

func runScenarios(t *testing.T, aggType string, aggID uuid.UUID, cases []scenario) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			agg := build(aggType, aggID, tc.given...)
			checkDecide(t, agg, int64(len(tc.given)), tc.when, tc.then, tc.code)
		})
	}
}

// checkDecide runs Decide(cmd, now) and compares the result with the expectation: the full
// envelope of every event (id, type, aggregate type and id, version, time, actor, command id,
// schema version) and its typed data, or the contract code of the rejection. It also checks
// that Decide is pure: it does not change the aggregate and answers a repeat identically.
func checkDecide(t *testing.T, agg domain.Aggregate, givenVersion int64, cmd domain.Command, want []domain.EventData, wantCode string) []domain.Event {
	t.Helper()
	if v := agg.Version(); v != givenVersion {
		t.Fatalf("after %d given events the aggregate is at version %d", givenVersion, v)
	}
	got, err := agg.Decide(cmd, now)
	again, err2 := agg.Decide(cmd, now)
	if agg.Version() != givenVersion {
		t.Errorf("Decide changed the aggregate's version: %d -> %d", givenVersion, agg.Version())
	}
	if !reflect.DeepEqual(got, again) || (err == nil) != (err2 == nil) || domain.CodeOf(err) != domain.CodeOf(err2) {
		t.Errorf("Decide is not repeatable:\nfirst:  %#v, %v\nsecond: %#v, %v", got, err, again, err2)
	}

	if wantCode != "" {
		if err == nil {
			t.Fatalf("want error %q, got events %#v", wantCode, got)
		}
		if c := domain.CodeOf(err); c != wantCode {
			t.Fatalf("want error code %q, got %q (%v)", wantCode, c, err)
		}
		if !errors.Is(err, &domain.Error{Code: wantCode}) {
			t.Errorf("errors.Is(err, &domain.Error{Code: %q}) is false for %v", wantCode, err)
		}
		if len(got) != 0 {
			t.Errorf("a rejected command produced events: %#v", got)
		}
		return nil
	}
	if err != nil {
		t.Fatalf("want events, got error %v (code %q)", err, domain.CodeOf(err))
	}
	if len(got) != len(want) {
		t.Fatalf("want %d events, got %d: %#v", len(want), len(got), got)
	}
	for i, e := range got {
		d := want[i]
		if e.ID != domain.EventID(cmd.ID, i) {
			t.Errorf("event %d: id %s, want EventID(command, %d) = %s", i, e.ID, i, domain.EventID(cmd.ID, i))
		}
		if e.Type != d.EventType() {
			t.Errorf("event %d: type %q, want %q", i, e.Type, d.EventType())
		}
		if e.AggregateType != cmd.AggregateType {
			t.Errorf("event %d: aggregate_type %q, want %q", i, e.AggregateType, cmd.AggregateType)
		}
		if e.AggregateID != cmd.AggregateID {
			t.Errorf("event %d: aggregate_id %s, want %s", i, e.AggregateID, cmd.AggregateID)
		}
		if wantV := givenVersion + int64(i) + 1; e.Version != wantV {
			t.Errorf("event %d: version %d, want %d", i, e.Version, wantV)
		}
		if !e.OccurredAt.Equal(now) || e.OccurredAt.Location() != time.UTC {
			t.Errorf("event %d: occurred_at %v, want %v in UTC", i, e.OccurredAt, nowUTC)
		}
		if e.ActorID != cmd.ActorID {
			t.Errorf("event %d: actor_id %s, want %s", i, e.ActorID, cmd.ActorID)
		}
		if e.CommandID != cmd.ID {
			t.Errorf("event %d: command_id %s, want %s", i, e.CommandID, cmd.ID)
		}
		if want := domain.SchemaVersion(e.Type); e.SchemaVersion != want {
			t.Errorf("event %d: schema_version %d, want %d", i, e.SchemaVersion, want)
		}
		if !reflect.DeepEqual(e.Data, d) {
			t.Errorf("event %d: data\n got: %#v\nwant: %#v", i, e.Data, d)
		}
	}
	return got
}

// ---- event data builders for the fixture room ----

func created(owner uuid.UUID, private bool, hash string) domain.RoomCreated {
	return domain.RoomCreated{RoomID: roomID, Name: "General", Description: "all things", OwnerID: owner,
		IsPrivate: private, PasswordHash: hash, CreatedAt: nowUTC}
}

func joined(user uuid.UUID, role string) domain.UserJoinedRoom {
	return domain.UserJoinedRoom{RoomID: roomID, UserID: user, Username: names[user], Role: role, JoinedAt: nowUTC}
}

func left(user uuid.UUID) domain.UserLeftRoom {
	return domain.UserLeftRoom{RoomID: roomID, UserID: user, Username: names[user], LeftAt: nowUTC}
}

func sentMsg(id, sender uuid.UUID, seq int64) domain.MessageSent {
	return domain.MessageSent{RoomID: roomID, Message: domain.MessageData{
		ID: id, RoomID: roomID, SenderID: sender, Content: "hi", MessageType: domain.MessageText, Seq: seq, CreatedAt: nowUTC,
	}}
}

// sent is the MessageSent the send command with key produces.
func sent(key string, sender uuid.UUID, content, mtype string, reply *uuid.UUID, seq int64, clientMsgID string) domain.MessageSent {
	return domain.MessageSent{RoomID: roomID, Message: domain.MessageData{
		ID: domain.MessageIDFor(cid(key)), RoomID: roomID, SenderID: sender, Content: content, MessageType: mtype,
		ReplyToMessageID: reply, Seq: seq, ClientMsgID: clientMsgID, CreatedAt: nowUTC,
	}}
}

// publicRoom is a public room owned by alice (versions 1, 2).
func publicRoom(more ...domain.EventData) []domain.EventData {
	return append([]domain.EventData{created(alice, false, ""), joined(alice, domain.RoleOwner)}, more...)
}

// roomHash is the password hash of privateRoom.
const roomHash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"

// privateRoom is a private room with a password, owned by alice (versions 1, 2).
func privateRoom(more ...domain.EventData) []domain.EventData {
	return append([]domain.EventData{created(alice, true, roomHash), joined(alice, domain.RoleOwner)}, more...)
}

// inviteOnlyRoom is a private room without a password, owned by alice (versions 1, 2).
func inviteOnlyRoom(more ...domain.EventData) []domain.EventData {
	return append([]domain.EventData{created(alice, true, ""), joined(alice, domain.RoleOwner)}, more...)
}

func evs(d ...domain.EventData) []domain.EventData { return d }

func str(s string) *string { return &s }

func roomUpdated(name, desc *string, by uuid.UUID) domain.RoomUpdated {
	return domain.RoomUpdated{RoomID: roomID, Name: name, Description: desc, UpdatedBy: by, UpdatedAt: nowUTC}
}

// updatedTo is u as the aggregate writes it: with the fixture room (owned by alice, created at
// nowUTC) as it stands after the change.
func updatedTo(u domain.RoomUpdated, name, desc string, private bool, members int) domain.RoomUpdated {
	u.Room = &domain.RoomState{Name: name, Description: desc, OwnerID: alice, IsPrivate: private, MemberCount: members, CreatedAt: nowUTC}
	return u
}

func roomDeleted(by uuid.UUID) domain.RoomDeleted {
	return domain.RoomDeleted{RoomID: roomID, DeletedBy: by, DeletedAt: nowUTC}
}

func roleChanged(user uuid.UUID, role string, by uuid.UUID) domain.MemberRoleChanged {
	return domain.MemberRoleChanged{RoomID: roomID, UserID: user, Role: role, ChangedBy: by}
}

// kicked is the MemberKicked of a member who joined under their fixture name.
func kicked(user, by uuid.UUID) domain.MemberKicked {
	return domain.MemberKicked{RoomID: roomID, UserID: user, Username: names[user], KickedBy: by}
}

// banned is the UserBanned of a member who joined under their fixture name.
func banned(user, by uuid.UUID, reason string) domain.UserBanned {
	return domain.UserBanned{RoomID: roomID, UserID: user, Username: names[user], WasMember: true, BannedBy: by, Reason: reason}
}

// bannedOutsider is the UserBanned of a user who is not a member (the room knows no name).
func bannedOutsider(user, by uuid.UUID, reason string) domain.UserBanned {
	return domain.UserBanned{RoomID: roomID, UserID: user, BannedBy: by, Reason: reason}
}

func unbanned(user, by uuid.UUID) domain.UserUnbanned {
	return domain.UserUnbanned{RoomID: roomID, UserID: user, UnbannedBy: by}
}

func invited(user, by uuid.UUID) domain.UserInvited {
	return domain.UserInvited{RoomID: roomID, UserID: user, InvitedBy: by}
}

// msgUpdated is the MessageUpdated of an edit of a message given by sentMsg (text, no reply).
func msgUpdated(id, sender uuid.UUID, seq int64, content string, by uuid.UUID) domain.MessageUpdated {
	return domain.MessageUpdated{RoomID: roomID, MessageID: id, NewContent: content, UpdatedBy: by, UpdatedAt: nowUTC,
		Seq: seq, SenderID: sender, MessageType: domain.MessageText, CreatedAt: nowUTC}
}

func msgDeleted(id uuid.UUID, seq int64, by uuid.UUID) domain.MessageDeleted {
	return domain.MessageDeleted{RoomID: roomID, MessageID: id, Seq: seq, DeletedBy: by, DeletedAt: nowUTC}
}

func readMarker(user uuid.UUID, seq int64) domain.ReadMarkerUpdated {
	return domain.ReadMarkerUpdated{RoomID: roomID, UserID: user, Seq: seq}
}

// roomOf is the room aggregate after the given events.
func roomOf(t *testing.T, given ...domain.EventData) *domain.Room {
	t.Helper()
	r, ok := build(domain.AggregateRoom, roomID, given...).(*domain.Room)
	if !ok {
		t.Fatal("NewAggregate(room) is not a *domain.Room")
	}
	return r
}

func ptr(u uuid.UUID) *uuid.UUID { return &u }
