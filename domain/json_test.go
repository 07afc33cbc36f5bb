package domain_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// sampleEvents holds one envelope of every event type, with optional fields both set and unset.
func sampleEvents() map[string]domain.Event {
	env := func(i int, aggType string, aggID uuid.UUID, d domain.EventData) domain.Event {
		c := cid("sample")
		return domain.Event{
			ID: domain.EventID(c, i), Type: d.EventType(), AggregateType: aggType, AggregateID: aggID,
			Version: int64(i + 1), OccurredAt: nowUTC, ActorID: alice, CommandID: c,
			SchemaVersion: domain.SchemaVersion(d.EventType()), Data: d,
		}
	}
	reply := msg1
	out := map[string]domain.Event{
		"RoomCreated public":  env(0, domain.AggregateRoom, roomID, created(alice, false, "")),
		"RoomCreated private": env(0, domain.AggregateRoom, roomID, created(alice, true, "$argon2id$hash")),
		"UserJoinedRoom":      env(1, domain.AggregateRoom, roomID, joined(bob, domain.RoleMember)),
		"UserLeftRoom":        env(2, domain.AggregateRoom, roomID, left(bob)),
		"MessageSent":         env(3, domain.AggregateRoom, roomID, sent("m", bob, "héllo 界", domain.MessageText, nil, 1, "")),
		"MessageSent reply": env(4, domain.AggregateRoom, roomID,
			sent("m2", bob, "re", domain.MessageFile, &reply, 2, "client-1")),
		"UserRegistered":       env(0, domain.AggregateUser, domain.UserIDFor("alice"), registered("alice", "Alice", "")),
		"UserRegistered email": env(0, domain.AggregateUser, domain.UserIDFor("alice"), registered("alice", "Alice", "a@example.com")),

		"RoomUpdated name":          env(5, domain.AggregateRoom, roomID, roomUpdated(str("Lounge"), nil, alice)),
		"RoomUpdated description":   env(5, domain.AggregateRoom, roomID, roomUpdated(nil, str("about"), dave)),
		"RoomUpdated both, cleared": env(5, domain.AggregateRoom, roomID, roomUpdated(str("界"), str(""), alice)),
		"RoomUpdated with state":    env(5, domain.AggregateRoom, roomID, updatedTo(roomUpdated(str("Lounge"), nil, alice), "Lounge", "about", true, 3)),
		"RoomDeleted":               env(6, domain.AggregateRoom, roomID, roomDeleted(alice)),
		"MemberRoleChanged":         env(7, domain.AggregateRoom, roomID, roleChanged(bob, domain.RoleAdmin, alice)),
		"MemberKicked":              env(8, domain.AggregateRoom, roomID, kicked(bob, dave)),
		"UserBanned":                env(9, domain.AggregateRoom, roomID, banned(bob, alice, "spam 界")),
		"UserBanned no reason":      env(9, domain.AggregateRoom, roomID, banned(bob, alice, "")),
		"UserBanned outsider":       env(9, domain.AggregateRoom, roomID, bannedOutsider(carol, alice, "")),
		"UserUnbanned":              env(10, domain.AggregateRoom, roomID, unbanned(bob, dave)),
		"UserInvited":               env(11, domain.AggregateRoom, roomID, invited(carol, bob)),
		"MessageUpdated":            env(12, domain.AggregateRoom, roomID, msgUpdated(msg1, bob, 1, "edited 界", bob)),
		"MessageUpdated reply": env(12, domain.AggregateRoom, roomID, domain.MessageUpdated{
			RoomID: roomID, MessageID: msg2, NewContent: `{"url":"https://x/a.png"}`, UpdatedBy: bob, UpdatedAt: nowUTC,
			Seq: 2, SenderID: bob, MessageType: domain.MessageImage, ReplyToMessageID: &reply, CreatedAt: nowUTC.Add(-time.Hour)}),
		"MessageDeleted":             env(13, domain.AggregateRoom, roomID, msgDeleted(msg1, 1, alice)),
		"ReadMarkerUpdated":          env(14, domain.AggregateRoom, roomID, readMarker(bob, 7)),
		"UserProfileUpdated display": env(1, domain.AggregateUser, domain.UserIDFor("alice"), profileUpdated(str("Al"), nil, nil)),
		"UserProfileUpdated all": env(1, domain.AggregateUser, domain.UserIDFor("alice"),
			profileUpdated(str("Al"), str("https://cdn.example/a.png"), str("a@example.com"))),
		"UserProfileUpdated cleared": env(1, domain.AggregateUser, domain.UserIDFor("alice"), profileUpdated(nil, str(""), str(""))),
		"UserCameOnline":             env(2, domain.AggregateUser, domain.UserIDFor("alice"), domain.UserCameOnline{UserID: domain.UserIDFor("alice"), At: nowUTC}),
		"UserWentOffline": env(3, domain.AggregateUser, domain.UserIDFor("alice"), domain.UserWentOffline{
			UserID: domain.UserIDFor("alice"), Since: nowUTC.Add(-time.Hour), At: nowUTC, Cause: domain.OfflineExpired}),
		"SystemEventPublished": env(0, domain.AggregateSystem, domain.SystemAggregateID, domain.SystemEventPublished{
			Kind: "maintenance", Message: "restart at 02:00", Data: json.RawMessage(`{"minutes":5}`), PublishedBy: alice, PublishedAt: nowUTC}),
	}
	for name, d := range orgSampleData() {
		out[name] = env(4, domain.AggregateOrganization, orgID, d)
	}
	for name, d := range deptRoomSampleData() {
		out[name] = env(2, domain.AggregateRoom, deptRoomID, d)
	}
	for name, d := range proxySampleData() {
		out[name] = env(1, domain.AggregateProxies, domain.ProxiesIDFor(alice), d)
	}
	byDelegate := env(3, domain.AggregateRoom, roomID, sent("m3", alice, "for alice", domain.MessageText, nil, 3, ""))
	byDelegate.ActingID = &bob
	out["MessageSent by a delegate"] = byDelegate
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Every event type the domain registers has a sample, and every sample's type is registered.
func TestSampleEventsCoverEveryType(t *testing.T) {
	have := map[string]bool{}
	for _, e := range sampleEvents() {
		have[e.Type] = true
	}
	types := domain.EventTypes()
	if len(types) != 17+28+3+3+2+2 { // and the organization's, its proxies', the department rooms', online time's, the proxies'
		t.Errorf("EventTypes() = %v: %d types, want %d", types, len(types), 17+28+3+3+2+2)
	}
	for _, typ := range types {
		if !have[typ] {
			t.Errorf("no sample of event type %s", typ)
		}
		delete(have, typ)
	}
	for typ := range have {
		t.Errorf("sample of unregistered event type %s", typ)
	}
}

// Room events travel on room aggregates, user events on user aggregates, system events on the
// system aggregate; the envelope's type is its data's.
func TestEventAggregateTypes(t *testing.T) {
	userEvents := map[string]bool{domain.TypeUserRegistered: true, domain.TypeUserProfileUpdated: true,
		domain.TypeUserCameOnline: true, domain.TypeUserWentOffline: true}
	for name, e := range sampleEvents() {
		want := domain.AggregateRoom
		switch {
		case userEvents[e.Type]:
			want = domain.AggregateUser
		case e.Type == domain.TypeSystemEventPublished:
			want = domain.AggregateSystem
		case isOrgEventType(e.Type):
			want = domain.AggregateOrganization
		case e.Type == domain.TypeProxyGranted || e.Type == domain.TypeProxyRevoked:
			want = domain.AggregateProxies
		}
		if e.AggregateType != want || e.Type != e.Data.EventType() {
			t.Errorf("%s: aggregate_type %q type %q data %T", name, e.AggregateType, e.Type, e.Data)
		}
	}
}

// The data of each event type has exactly the documented snake_case keys.
func TestEventDataFieldNames(t *testing.T) {
	want := map[string][]string{
		"RoomUpdated name":           {"room_id", "name", "updated_by", "updated_at"},
		"RoomUpdated description":    {"room_id", "description", "updated_by", "updated_at"},
		"RoomUpdated both, cleared":  {"room_id", "name", "description", "updated_by", "updated_at"},
		"RoomUpdated with state":     {"room_id", "name", "updated_by", "updated_at", "room"},
		"RoomDeleted":                {"room_id", "deleted_by", "deleted_at"},
		"MemberRoleChanged":          {"room_id", "user_id", "role", "changed_by"},
		"MemberKicked":               {"room_id", "user_id", "username", "kicked_by"},
		"UserBanned":                 {"room_id", "user_id", "username", "was_member", "banned_by", "reason"},
		"UserBanned no reason":       {"room_id", "user_id", "username", "was_member", "banned_by", "reason"},
		"UserBanned outsider":        {"room_id", "user_id", "username", "was_member", "banned_by", "reason"},
		"UserUnbanned":               {"room_id", "user_id", "unbanned_by"},
		"UserInvited":                {"room_id", "user_id", "invited_by"},
		"MessageUpdated":             {"room_id", "message_id", "new_content", "updated_by", "updated_at", "seq", "sender_id", "message_type", "reply_to_message_id", "created_at"},
		"MessageUpdated reply":       {"room_id", "message_id", "new_content", "updated_by", "updated_at", "seq", "sender_id", "message_type", "reply_to_message_id", "created_at"},
		"MessageDeleted":             {"room_id", "message_id", "seq", "deleted_by", "deleted_at"},
		"ReadMarkerUpdated":          {"room_id", "user_id", "seq"},
		"UserProfileUpdated display": {"user_id", "display_name", "updated_at"},
		"UserProfileUpdated all":     {"user_id", "display_name", "avatar_url", "email", "updated_at"},
		"UserProfileUpdated cleared": {"user_id", "avatar_url", "email", "updated_at"},
		"RoomCreated public":         {"room_id", "name", "description", "owner_id", "is_private", "created_at"},
		"RoomCreated private":        {"room_id", "name", "description", "owner_id", "is_private", "password_hash", "created_at"},
		"UserJoinedRoom":             {"room_id", "user_id", "username", "role", "joined_at"},
		"UserLeftRoom":               {"room_id", "user_id", "username", "left_at"},
		"UserRegistered":             {"user_id", "username", "display_name", "registered_at"},
		"UserRegistered email":       {"user_id", "username", "display_name", "email", "registered_at"},
	}
	samples := sampleEvents()
	for name, keys := range want {
		e, ok := samples[name]
		if !ok {
			t.Errorf("no sample %q", name)
			continue
		}
		b, err := json.Marshal(e.Data)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var got []string
		for k := range m {
			got = append(got, k)
		}
		sort.Strings(got)
		w := append([]string(nil), keys...)
		sort.Strings(w)
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s: keys %v, want %v (%s)", name, got, w, b)
		}
		for _, k := range []string{"updated_at", "deleted_at", "created_at"} {
			if raw, ok := m[k]; ok && !strings.HasSuffix(strings.Trim(string(raw), `"`), "Z") {
				t.Errorf("%s: %s %s is not UTC", name, k, raw)
			}
		}
	}
	// The state RoomUpdated repeats has the Room view's names for what the aggregate knows.
	b, _ := json.Marshal(samples["RoomUpdated with state"].Data)
	var withState struct {
		Room map[string]json.RawMessage `json:"room"`
	}
	if err := json.Unmarshal(b, &withState); err != nil {
		t.Fatal(err)
	}
	var stateKeys []string
	for k := range withState.Room {
		stateKeys = append(stateKeys, k)
	}
	sort.Strings(stateKeys)
	if want := []string{"created_at", "description", "is_private", "member_count", "name", "owner_id"}; !reflect.DeepEqual(stateKeys, want) {
		t.Errorf("RoomUpdated room keys %v, want %v (%s)", stateKeys, want, b)
	}
	// A message without a reply says so with null, as in Message.
	b, _ = json.Marshal(samples["MessageUpdated"].Data)
	if !strings.Contains(string(b), `"reply_to_message_id":null`) {
		t.Errorf("MessageUpdated without a reply: %s", b)
	}
}

// allCommandTypes lists every command type the domain decodes.
var allCommandTypes = []string{
	domain.CmdRegisterUser, domain.CmdUpdateProfile, domain.CmdCreateRoom, domain.CmdUpdateRoom, domain.CmdDeleteRoom,
	domain.CmdJoinRoom, domain.CmdLeaveRoom, domain.CmdSetRole, domain.CmdKickMember, domain.CmdBanMember,
	domain.CmdUnbanMember, domain.CmdInviteUser, domain.CmdSendMessage, domain.CmdEditMessage, domain.CmdDeleteMessage,
	domain.CmdMarkRead, domain.CmdSyncDepartmentRoom, domain.CmdReleaseDepartmentRoom,
}

func init() {
	allCommandTypes = append(allCommandTypes, orgCommandTypes...)
	allCommandTypes = append(allCommandTypes, domain.CmdGrantProxy, domain.CmdRevokeProxy)
}

// samplePayload is a payload of a command type, with every field set.
func samplePayload(typ string) domain.CommandData {
	reply := msg1
	since := nowUTC.Add(-time.Hour)
	p := map[string]domain.CommandData{
		domain.CmdRegisterUser:   domain.RegisterUser{Username: "alice", DisplayName: "Alice", Email: "a@example.com"},
		domain.CmdUpdateProfile:  domain.UpdateProfile{DisplayName: str("Al"), AvatarURL: str("https://x/a.png"), Email: str("")},
		domain.CmdCreateRoom:     domain.CreateRoom{Name: "G", Description: "d", IsPrivate: true, PasswordHash: "$h"},
		domain.CmdUpdateRoom:     domain.UpdateRoom{Name: str("N"), Description: str("")},
		domain.CmdDeleteRoom:     domain.DeleteRoom{},
		domain.CmdJoinRoom:       domain.JoinRoom{PasswordHash: "$2a$10$abcdefghijklmnopqrstuv"},
		domain.CmdLeaveRoom:      domain.LeaveRoom{},
		domain.CmdSetRole:        domain.SetRole{UserID: bob, Role: domain.RoleAdmin},
		domain.CmdKickMember:     domain.KickMember{UserID: bob},
		domain.CmdBanMember:      domain.BanMember{UserID: bob, Reason: "spam"},
		domain.CmdUnbanMember:    domain.UnbanMember{UserID: bob},
		domain.CmdInviteUser:     domain.InviteUser{UserID: carol},
		domain.CmdSendMessage:    domain.SendMessage{Content: "re", MessageType: domain.MessageImage, ReplyToMessageID: &reply, ClientMsgID: "c1"},
		domain.CmdEditMessage:    domain.EditMessage{MessageID: msg1, Content: "new 界"},
		domain.CmdDeleteMessage:  domain.DeleteMessage{MessageID: msg1},
		domain.CmdMarkRead:       domain.MarkRead{Seq: 42},
		domain.CmdRecordPresence: domain.RecordPresence{At: nowUTC, Cause: domain.OfflineReconciled, Since: &since},
	}[typ]
	if p == nil {
		p = deptRoomSamplePayload(typ)
	}
	if p == nil {
		p = proxySamplePayload(typ)
	}
	if p == nil {
		return orgSamplePayload(typ)
	}
	return p
}

// The command payload fields are snake_case as documented.
func TestCommandPayloadFieldNames(t *testing.T) {
	want := map[string][]string{
		domain.CmdUpdateProfile:  {"display_name", "avatar_url", "email"},
		domain.CmdUpdateRoom:     {"name", "description"},
		domain.CmdDeleteRoom:     {},
		domain.CmdJoinRoom:       {"password_hash"},
		domain.CmdSetRole:        {"user_id", "role"},
		domain.CmdKickMember:     {"user_id"},
		domain.CmdBanMember:      {"user_id", "reason"},
		domain.CmdUnbanMember:    {"user_id"},
		domain.CmdInviteUser:     {"user_id"},
		domain.CmdEditMessage:    {"message_id", "content"},
		domain.CmdDeleteMessage:  {"message_id"},
		domain.CmdMarkRead:       {"seq"},
		domain.CmdRecordPresence: {"online", "at", "cause", "since"},
	}
	for typ, keys := range want {
		b, _ := json.Marshal(samplePayload(typ))
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for k := range m {
			got = append(got, k)
		}
		sort.Strings(got)
		w := append([]string{}, keys...)
		sort.Strings(w)
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s: keys %v, want %v", typ, got, w)
		}
	}
	// Unset optional fields are left out, so "not given" survives the trip.
	for _, p := range []domain.CommandData{domain.UpdateRoom{}, domain.UpdateProfile{}, domain.JoinRoom{}} {
		if b, _ := json.Marshal(p); string(b) != "{}" {
			t.Errorf("%T{}: %s, want {}", p, b)
		}
	}
}

func TestEventJSONRoundTrip(t *testing.T) {
	for name, e := range sampleEvents() {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			var got domain.Event
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("unmarshal %s: %v", b, err)
			}
			if !reflect.DeepEqual(got, e) {
				t.Errorf("round trip changed the event\n got: %#v\nwant: %#v", got, e)
			}
			// Data comes back as the value type, never a pointer.
			if reflect.TypeOf(got.Data) != reflect.TypeOf(e.Data) {
				t.Errorf("data decoded as %T, want %T", got.Data, e.Data)
			}
			// A slice of events (as a batch would carry) round-trips too.
			var batch []domain.Event
			bb, _ := json.Marshal([]domain.Event{e, e})
			if err := json.Unmarshal(bb, &batch); err != nil || !reflect.DeepEqual(batch, []domain.Event{e, e}) {
				t.Errorf("batch round trip: %v", err)
			}
		})
	}
}

// The envelope's field names are exactly the contract's, no more, no fewer.
func TestEventEnvelopeFieldNames(t *testing.T) {
	want := []string{"id", "type", "aggregate_type", "aggregate_id", "version", "occurred_at", "actor_id",
		"command_id", "schema_version", "data"}
	sort.Strings(want)
	for name, e := range sampleEvents() {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var got []string
		for k := range m {
			got = append(got, k)
		}
		sort.Strings(got)
		if want := want; e.ActingID != nil { // a delegate's event, and only it, names them
			want = append(slices.Clone(want), "acting_id")
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: envelope keys %v, want %v", name, got, want)
			}
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: envelope keys %v, want %v", name, got, want)
		}
		var occurred string
		if err := json.Unmarshal(m["occurred_at"], &occurred); err != nil || !strings.HasSuffix(occurred, "Z") {
			t.Errorf("%s: occurred_at %s is not an RFC 3339 UTC string", name, m["occurred_at"])
		}
		if _, err := time.Parse(time.RFC3339Nano, occurred); err != nil {
			t.Errorf("%s: occurred_at %q: %v", name, occurred, err)
		}
		var typ string
		_ = json.Unmarshal(m["type"], &typ)
		if typ != e.Data.EventType() {
			t.Errorf("%s: type %q, want %q", name, typ, e.Data.EventType())
		}
		for _, k := range []string{"id", "aggregate_id", "actor_id", "command_id"} {
			var s string
			if err := json.Unmarshal(m[k], &s); err != nil {
				t.Errorf("%s: %s is not a string: %s", name, k, m[k])
			} else if _, err := uuid.Parse(s); err != nil || len(s) != 36 {
				t.Errorf("%s: %s %q is not a UUID string", name, k, s)
			}
		}
	}
}

// A message inside MessageSent uses the contract's Message field names.
func TestMessageSentDataFieldNames(t *testing.T) {
	e := sampleEvents()["MessageSent"]
	b, _ := json.Marshal(e.Data)
	var d struct {
		RoomID  string                     `json:"room_id"`
		Message map[string]json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.RoomID != roomID.String() {
		t.Errorf("room_id %q", d.RoomID)
	}
	for _, k := range []string{"id", "room_id", "sender_id", "content", "message_type", "reply_to_message_id", "seq", "created_at"} {
		if _, ok := d.Message[k]; !ok {
			t.Errorf("message has no %q: %s", k, b)
		}
	}
	if string(d.Message["reply_to_message_id"]) != "null" {
		t.Errorf("reply_to_message_id without a reply: %s, want null", d.Message["reply_to_message_id"])
	}
}

// Decoding a hand-written envelope pins the wire format independently of the encoder.
func TestEventUnmarshalLiteral(t *testing.T) {
	const lit = `{
		"id": "0e000000-0000-4000-8000-0000000000ee",
		"type": "UserJoinedRoom",
		"aggregate_type": "room",
		"aggregate_id": "11111111-1111-4111-8111-111111111111",
		"version": 3,
		"occurred_at": "2025-03-14T14:09:26.535897Z",
		"actor_id": "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
		"command_id": "0e000000-0000-4000-8000-0000000000cc",
		"schema_version": 1,
		"data": {"room_id": "11111111-1111-4111-8111-111111111111", "user_id": "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
		         "username": "bob", "role": "member", "joined_at": "2025-03-14T14:09:26.535897Z",
		         "some_future_field": true}
	}`
	var got domain.Event
	if err := json.Unmarshal([]byte(lit), &got); err != nil {
		t.Fatal(err)
	}
	want := domain.Event{
		ID: uuid.MustParse("0e000000-0000-4000-8000-0000000000ee"), Type: domain.TypeUserJoinedRoom,
		AggregateType: domain.AggregateRoom, AggregateID: roomID, Version: 3, OccurredAt: nowUTC, ActorID: bob,
		CommandID: uuid.MustParse("0e000000-0000-4000-8000-0000000000cc"), SchemaVersion: 1,
		Data: joined(bob, domain.RoleMember),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got: %#v\nwant: %#v", got, want)
	}
}

func TestEventUnmarshalRejects(t *testing.T) {
	valid, _ := json.Marshal(sampleEvents()["UserJoinedRoom"])
	replace := func(old, with string) string { return strings.Replace(string(valid), old, with, 1) }
	for name, in := range map[string]string{
		"unknown event type":    replace(`"type":"UserJoinedRoom"`, `"type":"RoomExploded"`),
		"event type wrong case": replace(`"type":"UserJoinedRoom"`, `"type":"userjoinedroom"`),
		"missing type":          replace(`"type":"UserJoinedRoom",`, ``),
		"empty type":            replace(`"type":"UserJoinedRoom"`, `"type":""`),
		"data not an object":    replace(`"data":{`, `"data":"x","old":{`),
		"data wrong field type": replace(`"role":"member"`, `"role":7`),
		"bad uuid":              replace(`"aggregate_id":"`, `"aggregate_id":"zz`),
		"bad time":              replace(`"occurred_at":"2025`, `"occurred_at":"yesterday`),
		"version as string":     replace(`"version":2`, `"version":"2"`),
		"not json":              `{"id":`,
		"array":                 `[]`,
		"empty":                 ``,
	} {
		if in == string(valid) {
			t.Fatalf("%s: replacement did not apply to %s", name, valid)
		}
		var e domain.Event
		if err := json.Unmarshal([]byte(in), &e); err == nil {
			t.Errorf("%s: decoded without error: %#v", name, e)
		}
	}
}

func TestCommandJSONRoundTrip(t *testing.T) {
	reply := msg1
	cmds := []domain.Command{
		register("j1", domain.RegisterUser{Username: "alice", DisplayName: "Alice", Email: "a@example.com"}),
		register("j2", domain.RegisterUser{Username: "bob"}),
		roomCmd("j3", alice, domain.CreateRoom{Name: "G", Description: "d", IsPrivate: true, PasswordHash: "$h"}),
		roomCmd("j4", alice, domain.CreateRoom{Name: "G"}),
		roomCmd("j5", bob, domain.JoinRoom{}),
		roomCmd("j6", bob, domain.LeaveRoom{}),
		roomCmd("j7", bob, domain.SendMessage{Content: "hi 界"}),
		roomCmd("j8", bob, domain.SendMessage{Content: "re", MessageType: domain.MessageImage, ReplyToMessageID: &reply, ClientMsgID: "c1"}),
		profile("j9", aliceID, domain.UpdateProfile{DisplayName: str("")}),
		profile("j10", aliceID, domain.UpdateProfile{}),
		roomCmd("j11", alice, domain.UpdateRoom{Description: str("")}),
		roomCmd("j12", alice, domain.UpdateRoom{}),
		roomCmd("j13", bob, domain.JoinRoom{}),
		roomCmd("j14", bob, domain.BanMember{UserID: carol}),
		roomCmd("j15", bob, domain.MarkRead{}),
	}
	for i, typ := range allCommandTypes {
		p := samplePayload(typ)
		if p == nil || p.CommandType() != typ {
			t.Fatalf("no sample payload of %s", typ)
		}
		id := domain.UserIDFor("alice")
		if domain.AggregateTypeOf(p) == domain.AggregateRoom {
			id = roomID
		}
		cmds = append(cmds, domain.NewCommand(cid(fmt.Sprint("all", i)), id, alice, "alice", now, p))
	}
	for _, c := range cmds {
		t.Run(c.Type+"/"+c.ID.String()[:8], func(t *testing.T) {
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			var got domain.Command
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("unmarshal %s: %v", b, err)
			}
			if !reflect.DeepEqual(got, c) {
				t.Errorf("round trip changed the command\n got: %#v\nwant: %#v", got, c)
			}
			if reflect.TypeOf(got.Payload) != reflect.TypeOf(c.Payload) {
				t.Errorf("payload decoded as %T, want %T", got.Payload, c.Payload)
			}
			var m map[string]json.RawMessage
			_ = json.Unmarshal(b, &m)
			for _, k := range []string{"id", "type", "aggregate_type", "aggregate_id", "actor_id", "payload"} {
				if _, ok := m[k]; !ok {
					t.Errorf("command JSON has no %q: %s", k, b)
				}
			}
		})
	}
}

func TestCommandUnmarshal(t *testing.T) {
	base := `{"id":"0e000000-0000-4000-8000-0000000000cc","type":%q,"aggregate_type":"room",` +
		`"aggregate_id":"11111111-1111-4111-8111-111111111111","actor_id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",` +
		`"actor_name":"bob","issued_at":"2025-03-14T14:09:26Z"%s}`
	mk := func(typ, tail string) []byte {
		return []byte(strings.Replace(strings.Replace(base, "%q", `"`+typ+`"`, 1), "%s", tail, 1))
	}

	// Payload-less commands decode with an absent or null payload.
	for _, tail := range []string{``, `,"payload":null`, `,"payload":{}`} {
		var c domain.Command
		if err := json.Unmarshal(mk(domain.CmdJoinRoom, tail), &c); err != nil {
			t.Fatalf("join_room with payload %q: %v", tail, err)
		}
		if _, ok := c.Payload.(domain.JoinRoom); !ok || c.ActorID != bob || c.ActorName != "bob" {
			t.Errorf("join_room with payload %q decoded as %#v", tail, c)
		}
	}

	// Payload-less new commands decode too.
	for _, typ := range []string{domain.CmdDeleteRoom, domain.CmdLeaveRoom} {
		var c domain.Command
		if err := json.Unmarshal(mk(typ, ``), &c); err != nil || c.Payload == nil || c.Payload.CommandType() != typ {
			t.Errorf("%s without payload: %#v, %v", typ, c, err)
		}
	}

	// A hand-written payload pins the wire names of the new commands.
	for typ, tc := range map[string]struct {
		payload string
		want    domain.CommandData
	}{
		domain.CmdUpdateRoom:    {`{"name":"N","description":""}`, domain.UpdateRoom{Name: str("N"), Description: str("")}},
		domain.CmdJoinRoom:      {`{"password_hash":"$2a$h"}`, domain.JoinRoom{PasswordHash: "$2a$h"}},
		domain.CmdSetRole:       {`{"user_id":"cccccccc-cccc-4ccc-8ccc-cccccccccccc","role":"admin"}`, domain.SetRole{UserID: carol, Role: "admin"}},
		domain.CmdKickMember:    {`{"user_id":"cccccccc-cccc-4ccc-8ccc-cccccccccccc"}`, domain.KickMember{UserID: carol}},
		domain.CmdBanMember:     {`{"user_id":"cccccccc-cccc-4ccc-8ccc-cccccccccccc","reason":"r"}`, domain.BanMember{UserID: carol, Reason: "r"}},
		domain.CmdUnbanMember:   {`{"user_id":"cccccccc-cccc-4ccc-8ccc-cccccccccccc"}`, domain.UnbanMember{UserID: carol}},
		domain.CmdInviteUser:    {`{"user_id":"cccccccc-cccc-4ccc-8ccc-cccccccccccc"}`, domain.InviteUser{UserID: carol}},
		domain.CmdEditMessage:   {`{"message_id":"0e000000-0000-4000-8000-000000000001","content":"c"}`, domain.EditMessage{MessageID: msg1, Content: "c"}},
		domain.CmdDeleteMessage: {`{"message_id":"0e000000-0000-4000-8000-000000000001"}`, domain.DeleteMessage{MessageID: msg1}},
		domain.CmdMarkRead:      {`{"seq":12}`, domain.MarkRead{Seq: 12}},
		domain.CmdUpdateProfile: {`{"display_name":"D","avatar_url":"https://x/a","email":""}`, domain.UpdateProfile{DisplayName: str("D"), AvatarURL: str("https://x/a"), Email: str("")}},
	} {
		var c domain.Command
		if err := json.Unmarshal(mk(typ, `,"payload":`+tc.payload), &c); err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		if !reflect.DeepEqual(c.Payload, tc.want) {
			t.Errorf("%s: payload %#v, want %#v", typ, c.Payload, tc.want)
		}
	}

	for name, in := range map[string][]byte{
		"set_role bad user id":    mk(domain.CmdSetRole, `,"payload":{"user_id":"nope","role":"admin"}`),
		"mark_read seq as string": mk(domain.CmdMarkRead, `,"payload":{"seq":"3"}`),
		"mark_read seq fraction":  mk(domain.CmdMarkRead, `,"payload":{"seq":1.5}`),
		"edit_message content 5":  mk(domain.CmdEditMessage, `,"payload":{"content":5}`),
		"update_room name 5":      mk(domain.CmdUpdateRoom, `,"payload":{"name":5}`),
		"join_room payload array": mk(domain.CmdJoinRoom, `,"payload":[]`),
		"update_profile not obj":  mk(domain.CmdUpdateProfile, `,"payload":"x"`),
		"unknown command type":    mk("explode_room", `,"payload":{}`),
		"missing type":            []byte(`{"id":"0e000000-0000-4000-8000-0000000000cc","payload":{}}`),
		"payload wrong shape":     mk(domain.CmdSendMessage, `,"payload":{"content":5}`),
		"payload not object":      mk(domain.CmdCreateRoom, `,"payload":"x"`),
		"not json":                []byte(`{`),
	} {
		var c domain.Command
		if err := json.Unmarshal(in, &c); err == nil {
			t.Errorf("%s: decoded without error: %#v", name, c)
		}
	}
}

// FuzzEventUnmarshal: decoding any bytes never panics; whatever decodes carries data of the
// type it names, upcast to the type's current schema version, and survives a re-encode/re-decode
// unchanged. Its corpus (testdata/fuzz/FuzzEventUnmarshal) holds the golden fixtures.
func FuzzEventUnmarshal(f *testing.F) {
	for _, e := range sampleEvents() {
		b, err := json.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"type":"RoomCreated","data":null}`))
	f.Add([]byte(`{"type":"MessageSent","data":{"message":{"reply_to_message_id":null}}}`))
	f.Add([]byte(`{"type":"Nope","data":{}}`))
	f.Add([]byte(`{"type":"RoomUpdated","data":{"name":null,"description":""}}`))
	f.Add([]byte(`{"type":"RoomDeleted","data":{}}`))
	f.Add([]byte(`{"type":"MessageUpdated","data":{"reply_to_message_id":null,"seq":-1}}`))
	f.Add([]byte(`{"type":"MessageDeleted","data":{"seq":1e3}}`))
	f.Add([]byte(`{"type":"ReadMarkerUpdated","data":{"seq":9223372036854775807}}`))
	f.Add([]byte(`{"type":"UserBanned","data":{"reason":null}}`))
	f.Add([]byte(`{"type":"UserProfileUpdated","data":{"email":"","avatar_url":null}}`))
	f.Add([]byte(`{"type":"MemberRoleChanged","data":{"role":"owner"}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{}`))

	f.Fuzz(func(t *testing.T, b []byte) {
		var e domain.Event
		if err := json.Unmarshal(b, &e); err != nil {
			return
		}
		if e.Data == nil {
			t.Fatalf("decoded event has nil data: %q", b)
		}
		if e.Data.EventType() != e.Type {
			t.Fatalf("type %q carries %T", e.Type, e.Data)
		}
		if e.SchemaVersion != domain.SchemaVersion(e.Type) {
			t.Fatalf("%q decoded at schema version %d, not %s's current %d", b, e.SchemaVersion, e.Type, domain.SchemaVersion(e.Type))
		}
		b1, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("re-encode of decoded %q: %v", b, err)
		}
		var e2 domain.Event
		if err := json.Unmarshal(b1, &e2); err != nil {
			t.Fatalf("re-decode of %s: %v", b1, err)
		}
		b2, err := json.Marshal(e2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("not stable:\n%s\n%s", b1, b2)
		}
	})
}
