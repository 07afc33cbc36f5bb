package domain_test

import (
	"bytes"
	"encoding/json"
	"reflect"
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
			SchemaVersion: domain.CurrentSchemaVersion, Data: d,
		}
	}
	reply := msg1
	return map[string]domain.Event{
		"RoomCreated public":  env(0, domain.AggregateRoom, roomID, created(alice, false, "")),
		"RoomCreated private": env(0, domain.AggregateRoom, roomID, created(alice, true, "$argon2id$hash")),
		"UserJoinedRoom":      env(1, domain.AggregateRoom, roomID, joined(bob, domain.RoleMember)),
		"UserLeftRoom":        env(2, domain.AggregateRoom, roomID, left(bob)),
		"MessageSent":         env(3, domain.AggregateRoom, roomID, sent("m", bob, "héllo 界", domain.MessageText, nil, 1, "")),
		"MessageSent reply": env(4, domain.AggregateRoom, roomID,
			sent("m2", bob, "re", domain.MessageFile, &reply, 2, "client-1")),
		"UserRegistered":       env(0, domain.AggregateUser, domain.UserIDFor("alice"), registered("alice", "Alice", "")),
		"UserRegistered email": env(0, domain.AggregateUser, domain.UserIDFor("alice"), registered("alice", "Alice", "a@example.com")),
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
		if !reflect.DeepEqual(got, want) {
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
	replace := func(old, new string) string { return strings.Replace(string(valid), old, new, 1) }
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
	for _, c := range []domain.Command{
		register("j1", domain.RegisterUser{Username: "alice", DisplayName: "Alice", Email: "a@example.com"}),
		register("j2", domain.RegisterUser{Username: "bob"}),
		roomCmd("j3", alice, domain.CreateRoom{Name: "G", Description: "d", IsPrivate: true, PasswordHash: "$h"}),
		roomCmd("j4", alice, domain.CreateRoom{Name: "G"}),
		roomCmd("j5", bob, domain.JoinRoom{}),
		roomCmd("j6", bob, domain.LeaveRoom{}),
		roomCmd("j7", bob, domain.SendMessage{Content: "hi 界"}),
		roomCmd("j8", bob, domain.SendMessage{Content: "re", MessageType: domain.MessageImage, ReplyToMessageID: &reply, ClientMsgID: "c1"}),
	} {
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

	for name, in := range map[string][]byte{
		"unknown command type": mk("explode_room", `,"payload":{}`),
		"missing type":         []byte(`{"id":"0e000000-0000-4000-8000-0000000000cc","payload":{}}`),
		"payload wrong shape":  mk(domain.CmdSendMessage, `,"payload":{"content":5}`),
		"payload not object":   mk(domain.CmdCreateRoom, `,"payload":"x"`),
		"not json":             []byte(`{`),
	} {
		var c domain.Command
		if err := json.Unmarshal(in, &c); err == nil {
			t.Errorf("%s: decoded without error: %#v", name, c)
		}
	}
}

// FuzzEventUnmarshal: decoding any bytes never panics; whatever decodes carries data of the
// type it names and survives a re-encode/re-decode unchanged.
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
