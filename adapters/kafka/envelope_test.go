package kafka_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/domain"
)

// --- envelope decoding and re-encoding (no broker) ---

func sampleEvents(t testing.TB) []domain.Event {
	t.Helper()
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	room, alice := uuid.New(), uuid.New()
	ev := func(v int64, d domain.EventData) domain.Event {
		return domain.Event{ID: uuid.New(), Type: d.EventType(), AggregateType: domain.AggregateRoom, AggregateID: room, Version: v,
			OccurredAt: at, ActorID: alice, CommandID: uuid.New(), SchemaVersion: domain.CurrentSchemaVersion, Data: d}
	}
	reply := uuid.New()
	return []domain.Event{
		ev(1, domain.RoomCreated{RoomID: room, Name: "général <&> \"q\" \u2028", OwnerID: alice, CreatedAt: at}),
		ev(2, domain.UserJoinedRoom{RoomID: room, UserID: alice, Username: "alice", Role: domain.RoleOwner, JoinedAt: at}),
		ev(3, domain.MessageSent{RoomID: room, Message: domain.MessageData{ID: uuid.New(), RoomID: room, SenderID: alice,
			Content: "你好 \\ \"world\"\n\t😀", MessageType: "text", ReplyToMessageID: &reply, Seq: 1, CreatedAt: at}}),
		{ID: uuid.New(), Type: domain.TypeUserRegistered, AggregateType: domain.AggregateUser, AggregateID: alice, Version: 1,
			OccurredAt: at.Add(time.Second), ActorID: alice, CommandID: uuid.New(), SchemaVersion: 1,
			Data: domain.UserRegistered{UserID: alice, Username: "alice", DisplayName: "Alice", RegisteredAt: at}},
	}
}

// Without secrets, the re-encoding is exactly what encoding/json wrote (which the processor uses).
func TestEnvelopeRoundTripsByteForByte(t *testing.T) {
	for _, ev := range sampleEvents(t) {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		env, err := kafka.ParseEnvelope(b)
		if err != nil {
			t.Fatalf("parse %s: %v", b, err)
		}
		if env.ID != ev.ID.String() || env.Type != ev.Type || env.AggregateID != ev.AggregateID.String() || env.Version != ev.Version ||
			!env.OccurredAt.Equal(ev.OccurredAt) || env.ActorID != ev.ActorID.String() || env.CommandID != ev.CommandID.String() || env.SchemaVersion != 1 {
			t.Fatalf("parsed %+v from %s", env, b)
		}
		out, err := env.AppendJSON(nil, true)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded\n%s\nwant\n%s", out, b)
		}
	}
}

func TestEnvelopeDropsSecretsAtAnyDepth(t *testing.T) {
	at := time.Now().UTC()
	room := uuid.New()
	hash := "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g"
	ev := domain.Event{ID: uuid.New(), Type: domain.TypeRoomCreated, AggregateType: domain.AggregateRoom, AggregateID: room, Version: 1,
		OccurredAt: at, SchemaVersion: 1, Data: domain.RoomCreated{RoomID: room, Name: "secret club", IsPrivate: true, PasswordHash: hash, CreatedAt: at}}
	b, _ := json.Marshal(ev)
	env, err := kafka.ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := env.AppendJSON(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte(hash)) || bytes.Contains(out, []byte("password")) {
		t.Fatalf("secret in %s", out)
	}
	ev.Data = domain.RoomCreated{RoomID: room, Name: "secret club", IsPrivate: true, CreatedAt: at}
	want, _ := json.Marshal(ev)
	if !bytes.Equal(out, want) {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}

	// Any field named like a secret goes, at any depth, whatever its value; the rest stays.
	env.Data = json.RawMessage(` { "a" : [ {"Api_Token": {"x":1}, "b": "password_hash"}, 2 ],
		"nested": {"refresh_TOKEN":"t", "HashOfIt":null, "my\u0048ash": 3, "ok": "\u00e9\"", "Secret":[1]}, "plain_password": "p", "z": -1.5e3 } `)
	got, err := env.AppendData(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":[{"b":"password_hash"},2],"nested":{"ok":"\u00e9\""},"z":-1.5e3}`; string(got) != want {
		t.Fatalf("redacted data %s, want %s", got, want)
	}
}

func TestParseEnvelopeRejectsWhatIsNotAnEnvelope(t *testing.T) {
	for _, in := range []string{
		``, `null`, `[]`, `{}`, `{"id":"x"}`, `{"occurred_at":"yesterday"}`, `{"occurred_at":"2026-01-01T00:00:00Z"`,
		`{"occurred_at":"2026-01-01T00:00:00Z","data":{"a":}}`, `{"occurred_at":"2026-01-01T00:00:00Z"} x`,
		`{"occurred_at":"2026-01-01T00:00:00Z","version":1.5}`, `{"occurred_at":"2026-01-01T00:00:00Z","data":"\x01"}`,
		"{\"occurred_at\":\"2026-01-01T00:00:00Z\",\"data\":\"\xff\"}", strings.Repeat("[", 5000),
		`{"occurred_at":"2026-01-01T00:00:00Z","data":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`,
	} {
		if _, err := kafka.ParseEnvelope([]byte(in)); err == nil {
			t.Errorf("ParseEnvelope(%.60q) accepted it", in)
		}
	}
	env, err := kafka.ParseEnvelope([]byte(`{"occurred_at":"2026-01-01T00:00:00Z","data": { "a" : [ 1 , "x y" ] , "b\u0022":{} } }`))
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := env.AppendJSON(nil, true); !bytes.HasSuffix(out, []byte(`"data":{"a":[1,"x y"],"b\u0022":{}}}`)) {
		t.Fatalf("data with white space: %s", out)
	}
	env, err = kafka.ParseEnvelope([]byte(` {"occurred_at":"2026-01-01T00:00:00+02:00","extra":{"k":[true,false,null]},"actor_id":null,"type":"X\u0059"} `))
	if err != nil || env.Type != "XY" || env.ActorID != "" || env.OccurredAt.UTC().Hour() != 22 || env.Data != nil {
		t.Fatalf("lenient parse: %+v %v", env, err)
	}
	if out, _ := env.AppendJSON(nil, false); !bytes.HasSuffix(out, []byte(`"data":null}`)) {
		t.Fatalf("absent data: %s", out)
	}
}

// The scanner accepts exactly what encoding/json accepts, and never panics.
func FuzzJSONScanner(f *testing.F) {
	for _, s := range []string{`{}`, `[1,2,{"a":"b"}]`, `"\u00e9"`, `-0.5e+10`, `01`, `1.`, `{"a" 1}`, `[1,]`, `tru`, "\"\xff\"", `"\ud800"`, ` 1 `, `{"a":1,}`, `1 2`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		err := kafka.EachDataField(b, func(_, _ []byte) {})
		if err != nil && strings.Contains(err.Error(), "nested too deeply") {
			return // a limit of the scanner (1000 levels); encoding/json's is 10000
		}
		// Valid JSON, and UTF-8 (encoding/json lets invalid UTF-8 through; the scanner does not).
		if (err == nil) != (json.Valid(b) && utf8.Valid(b)) {
			t.Fatalf("%q: scanner error %v, json.Valid %v", b, err, json.Valid(b))
		}
		if err != nil {
			return
		}
		env := kafka.Envelope{Data: b}
		out, err := env.AppendData(nil, false)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		_ = json.Compact(&want, b)
		if !bytes.Equal(out, want.Bytes()) {
			t.Fatalf("compact %q = %q, want %q", b, out, want.Bytes())
		}
	})
}

// Events decided by the real command processor replay whole: every aggregate's versions run
// from 1 without gaps, in order, and the private room's password hash is in the log but not in
// the output.
func TestReplayOfCommandProcessorEvents(t *testing.T) {
	h := newHarness(t)
	stop := h.startProcessor()
	defer stop()
	const hash = "$2a$10$abcdefghijklmnopqrstuuJ0Wm9e8m1lJ6Jm2b3K4l5m6n7o8p9q0"
	owner := uuid.New()
	var rooms []uuid.UUID
	for i := 0; i < 6; i++ {
		room := uuid.New()
		rooms = append(rooms, room)
		c := domain.CreateRoom{Name: fmt.Sprint("room ", i)}
		if i == 0 {
			c = domain.CreateRoom{Name: "private", IsPrivate: true, PasswordHash: hash}
		}
		if r := h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), c)); !r.Accepted {
			t.Fatalf("create: %+v", r)
		}
	}
	for i := 0; i < 60; i++ {
		if r := h.dispatch(domain.NewCommand(uuid.New(), rooms[i%len(rooms)], owner, "alice", time.Now(), domain.SendMessage{Content: fmt.Sprint("hello ", i)})); !r.Accepted {
			t.Fatalf("send: %+v", r)
		}
	}
	want := 6*2 + 60
	var lines [][]byte
	versions := map[string]int64{}
	_, err := ops.Replay(context.Background(), h.cfg, ops.ReplayOptions{
		Prepare: func(r *ops.ReplayRecord, buf []byte) ([]byte, bool, error) {
			if !bytes.Contains(r.Value, []byte(hash)) && r.Event.Type == domain.TypeRoomCreated && r.Event.AggregateID == rooms[0].String() {
				return buf, false, errors.New("the log should hold the hash")
			}
			b, err := r.Event.AppendJSON(buf, true)
			return b, true, err
		},
	}, func(r *ops.ReplayRecord) error {
		lines = append(lines, append([]byte(nil), r.Out...))
		if v := versions[r.Event.AggregateID] + 1; r.Event.Version != v {
			return fmt.Errorf("aggregate %s: version %d after %d", r.Event.AggregateID, r.Event.Version, v-1)
		}
		versions[r.Event.AggregateID] = r.Event.Version
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != want || len(versions) != 6 {
		t.Fatalf("%d events of %d aggregates, want %d of 6", len(lines), len(versions), want)
	}
	for _, l := range lines {
		if bytes.Contains(l, []byte(hash)) || bytes.Contains(l, []byte("password")) {
			t.Fatalf("secret in the output: %s", l)
		}
		var ev domain.Event
		if err := json.Unmarshal(l, &ev); err != nil {
			t.Fatalf("output is not an event: %v: %s", err, l)
		}
	}
}

func TestSecretField(t *testing.T) {
	for name, want := range map[string]bool{
		"password_hash": true, "PassWord": true, "api_token": true, "TOKEN": true, "x_hash_y": true, "Secret": true, "client_secret": true,
		"name": false, "room_id": false, "has": false, "pass": false, "tok": false, "": false, "sender_id": false, "hashtags": true,
	} {
		if got := kafka.SecretField([]byte(name)); got != want {
			t.Errorf("SecretField(%q) = %v", name, got)
		}
	}
}

func BenchmarkEnvelope(b *testing.B) {
	at := time.Now().UTC()
	room := uuid.New()
	ev := domain.Event{ID: uuid.New(), Type: domain.TypeMessageSent, AggregateType: domain.AggregateRoom, AggregateID: room, Version: 42,
		OccurredAt: at, ActorID: uuid.New(), CommandID: uuid.New(), SchemaVersion: 1, Data: domain.MessageSent{RoomID: room, Message: domain.MessageData{
			ID: uuid.New(), RoomID: room, SenderID: uuid.New(), Content: "a message of a typical length, with some words in it, about sixty", MessageType: "text", Seq: 41, CreatedAt: at}}}
	v, _ := json.Marshal(ev)
	b.Run("parse", func(b *testing.B) {
		b.SetBytes(int64(len(v)))
		b.ReportAllocs()
		for range b.N {
			if _, err := kafka.ParseEnvelope(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse+render", func(b *testing.B) {
		b.SetBytes(int64(len(v)))
		b.ReportAllocs()
		buf := make([]byte, 0, 4096)
		for range b.N {
			env, err := kafka.ParseEnvelope(v)
			if err != nil {
				b.Fatal(err)
			}
			if buf, err = env.AppendJSON(buf[:0], true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(v)))
		b.ReportAllocs()
		for range b.N {
			var e domain.Event
			if err := json.Unmarshal(v, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Strings are scanned 8 bytes at a time: a special byte at any position of any length is seen.
func TestJSONStringsAtEveryAlignment(t *testing.T) {
	for _, special := range []string{`\"`, `\\`, `\u00e9`, "\x01", "\x1f", `"`, "é", "\xff", "\x7f", " "} {
		for n := 0; n < 40; n++ {
			for pos := 0; pos <= n; pos++ {
				doc := []byte(`{"k":"` + strings.Repeat("a", pos) + special + strings.Repeat("b", n-pos) + `"}`)
				err := kafka.EachDataField(doc, func(_, _ []byte) {})
				if want := json.Valid(doc) && utf8.Valid(doc); (err == nil) != want {
					t.Fatalf("%q: error %v, want valid %v", doc, err, want)
				}
			}
		}
	}
}

// occurred_at reads as time.Parse reads it (a fast path takes the processor's form).
func TestParseEnvelopeTimes(t *testing.T) {
	for _, ts := range []string{
		"2026-01-01T00:00:00Z", "2026-01-01T00:00:00.1Z", "2026-11-25T23:59:59.123456Z", "2026-01-01T00:00:00.123456789Z",
		"2026-01-01T00:00:00.1234567891Z", "2026-02-29T00:00:00Z", "2024-02-29T12:00:00Z", "2026-02-30T00:00:00Z", "2026-04-31T00:00:00Z",
		"2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:60Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
		"2026-01-01T00:00:00+01:00", "2026-01-01T00:00:00.5-07:30", "2026-01-01T00:00:00z", "2026-01-01t00:00:00Z", "0000-01-01T00:00:00Z",
		"9999-12-31T23:59:59.999999999Z", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00", "2026-1-01T00:00:00Z", "２026-01-01T00:00:00Z",
		"2026-01-01T00:00:0xZ", "+026-01-01T00:00:00Z", "2026-01-01T00:00:00.12a4Z",
	} {
		want, werr := time.Parse(time.RFC3339Nano, ts)
		b, _ := json.Marshal(ts)
		env, gerr := kafka.ParseEnvelope([]byte(`{"occurred_at":` + string(b) + `}`))
		if (werr == nil) != (gerr == nil) {
			t.Errorf("%s: time.Parse error %v, ParseEnvelope error %v", ts, werr, gerr)
			continue
		}
		if werr == nil && (!env.OccurredAt.Equal(want) || env.OccurredAt.Format(time.RFC3339Nano) != want.Format(time.RFC3339Nano)) {
			t.Errorf("%s: %s, want %s", ts, env.OccurredAt.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
		}
	}
	// Ids come out the same whether escaped or not, duplicated or null.
	env, err := kafka.ParseEnvelope([]byte(`{"occurred_at":"2026-01-01T00:00:00Z","id":"a","aggregate_id":"b\u0062","actor_id":null,"command_id":"x","command_id":"d","type":"T","aggregate_type":"r\u006fom"}`))
	if err != nil || env.ID != "a" || env.AggregateID != "bb" || env.ActorID != "" || env.CommandID != "d" || env.Type != "T" || env.AggregateType != "room" {
		t.Fatalf("%+v %v", env, err)
	}
}

// Whatever ParseEnvelope accepts re-encodes as valid JSON that parses back to the same envelope.
func FuzzParseEnvelope(f *testing.F) {
	for _, ev := range sampleEventsForFuzz() {
		f.Add(ev)
	}
	f.Add([]byte(`{"occurred_at":"2026-01-01T00:00:00Z","data":{"password":"x","a":[{"token":1}]}}`))
	f.Add([]byte(` { "occurred_at" : "2026-01-01T00:00:00.5+01:00" , "id" : "\u0041" , "data" : [ 1 , 2 ] } `))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := kafka.ParseEnvelope(b)
		if err != nil {
			return
		}
		for _, redact := range []bool{false, true} {
			out, err := env.AppendJSON(nil, redact)
			if err != nil {
				t.Fatalf("%q: %v", b, err)
			}
			if !json.Valid(out) {
				t.Fatalf("%q re-encodes as invalid JSON %q", b, out)
			}
			again, err := kafka.ParseEnvelope(out)
			if err != nil {
				t.Fatalf("%q: output %q does not parse: %v", b, out, err)
			}
			if again.ID != env.ID || again.Type != env.Type || again.AggregateID != env.AggregateID || again.Version != env.Version ||
				!again.OccurredAt.Equal(env.OccurredAt) || again.ActorID != env.ActorID || again.CommandID != env.CommandID {
				t.Fatalf("%q: %+v became %+v", b, env, again)
			}
			if redact {
				_ = kafka.EachDataField(again.Data, func(name, _ []byte) {
					if kafka.SecretField(name) {
						t.Fatalf("%q: %s survived redaction in %q", b, name, out)
					}
				})
			}
		}
	})
}

func sampleEventsForFuzz() [][]byte {
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	room := uuid.New()
	var out [][]byte
	for _, d := range []domain.EventData{
		domain.RoomCreated{RoomID: room, Name: "n", IsPrivate: true, PasswordHash: "$h", CreatedAt: at},
		domain.MessageSent{RoomID: room, Message: domain.MessageData{ID: uuid.New(), Content: "é \"q\"", Seq: 3, CreatedAt: at}},
	} {
		b, _ := json.Marshal(domain.Event{ID: uuid.New(), Type: d.EventType(), AggregateType: "room", AggregateID: room, Version: 1, OccurredAt: at, SchemaVersion: 1, Data: d})
		out = append(out, b)
	}
	return out
}
