package domain_test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/chorus-chat/chorus/domain"
)

// Fuzz targets of the domain's decoders of outside input: position tokens (clients send them
// back as ?position=), command records (the command processor reads them from the command
// topic) and the upcasters (old event data from the log). FuzzEventUnmarshal is in
// json_test.go. Seeds are here and in testdata/fuzz/<target>; docs/operations.md says how to
// run them longer and keep what they find.

// FuzzParsePosition: a position token is accepted only in the one spelling String writes, so
// parse and print are inverse, and an accepted position is never the zero one.
func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{
		"chat-events:3:41", "user-events:0:0", "ns:with:colons:7:9", "t:2147483647:9223372036854775807",
		"", ":", "::", "t::1", ":1:2", "t:01:2", "t:1:02", "t:-0:1", "t:+1:2", "t:1:2 ", " t:1:2",
		"t:2147483648:0", "t:0:9223372036854775808", "t:0:99999999999999999999999999", "t\x00:1:2",
		"\xff\xfe:1:2", "t:１:2", "t:1e3:2", "t:0x10:2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := domain.ParsePosition(s)
		if err != nil {
			if p != (domain.Position{}) {
				t.Fatalf("ParsePosition(%q) failed (%v) but returned %#v", s, err, p)
			}
			return
		}
		if p.String() != s {
			t.Fatalf("ParsePosition(%q) = %#v, which prints as %q", s, p, p.String())
		}
		if p.IsZero() || p.Partition < 0 || p.Offset < 0 {
			t.Fatalf("ParsePosition(%q) accepted %#v", s, p)
		}
		again, err := domain.ParsePosition(p.String())
		if err != nil || again != p {
			t.Fatalf("%q: re-parse gave %#v, %v", s, again, err)
		}
	})
}

// FuzzCommandUnmarshal: a command record decodes into the payload type its "type" names, and a
// decoded command re-encodes to JSON that decodes to the same command (so what the processor
// decides on is what the gateway meant, however the record is spelled).
func FuzzCommandUnmarshal(f *testing.F) {
	for i, typ := range allCommandTypes {
		p := samplePayload(typ)
		id := domain.UserIDFor("alice")
		if domain.AggregateTypeOf(p) == domain.AggregateRoom {
			id = roomID
		}
		b, err := json.Marshal(domain.NewCommand(cid("fuzz"+strconv.Itoa(i)), id, alice, "alice", now, p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"type":"join_room"}`, `{"type":"join_room","payload":null}`, `{"type":"mark_read","payload":{"seq":1e400}}`,
		`{"type":"mark_read","payload":{"seq":-9223372036854775808}}`, `{"type":"send_message","payload":{"content":"\u0000"}}`,
		`{"type":"send_message","payload":{"reply_to_message_id":"not-a-uuid"}}`, `{"type":"explode"}`, `{}`, `null`, `[]`,
		`{"type":"set_role","type":"kick_member","payload":{"user_id":"cccccccc-cccc-4ccc-8ccc-cccccccccccc"}}`,
		`{"TYPE":"delete_room","Payload":{}}`, `{"type":"update_profile","payload":{"email":null}}`,
		"{\"type\":\"send_message\",\"payload\":{\"content\":\"\xff\"}}",
		`{"type":"create_room","payload":` + strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 200) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var c domain.Command
		if err := json.Unmarshal(b, &c); err != nil {
			return
		}
		if c.Payload == nil || c.Payload.CommandType() != c.Type {
			t.Fatalf("%q: type %q decoded with payload %#v", b, c.Type, c.Payload)
		}
		b1, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("re-encode of decoded %q: %v", b, err)
		}
		var c2 domain.Command
		if err := json.Unmarshal(b1, &c2); err != nil {
			t.Fatalf("%q re-encodes as %s, which does not decode: %v", b, b1, err)
		}
		if !reflect.DeepEqual(c2.Payload, c.Payload) || c2.ID != c.ID || c2.Type != c.Type || c2.AggregateID != c.AggregateID ||
			c2.ActorID != c.ActorID || !c2.IssuedAt.Equal(c.IssuedAt) || c2.AggregateType != c.AggregateType {
			t.Fatalf("%q decoded as %#v but its re-encoding %s as %#v", b, c, b1, c2)
		}
		b2, err := json.Marshal(c2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("encoding not stable:\n%s\n%s (%v)", b1, b2, err)
		}
	})
}

// FuzzUpcast: the upcasters turn any old data they accept into a JSON object at the current
// version that keeps every field the data had (by its exact name) and adds the fields the
// version introduced; decoding old data is decoding its upcast form; versions outside
// 1..current are refused.
func FuzzUpcast(f *testing.F) {
	for _, typ := range []string{domain.TypeRoomUpdated, domain.TypeMemberKicked, domain.TypeUserBanned, domain.TypeMessageSent} {
		for v := 1; v <= domain.SchemaVersion(typ); v++ {
			var fx struct {
				Data json.RawMessage `json:"data"`
			}
			b, err := readFixture(typ, v)
			if err != nil {
				f.Fatal(err)
			}
			if err := json.Unmarshal(b, &fx); err != nil {
				f.Fatal(err)
			}
			f.Add(typ, v, []byte(fx.Data))
		}
	}
	f.Add(domain.TypeUserBanned, 1, []byte(`{"was_member":false,"username":"kept"}`))
	f.Add(domain.TypeUserBanned, 1, []byte(`{"Was_Member":false}`))
	f.Add(domain.TypeMemberKicked, 1, []byte(`{"username":null}`))
	f.Add(domain.TypeRoomUpdated, 1, []byte(`{"room":{"name":"x"},"room":null}`))
	f.Add(domain.TypeRoomUpdated, 1, []byte(` [] `))
	f.Add(domain.TypeRoomUpdated, 1, []byte(`{"a":`+strings.Repeat("[", 3000)+strings.Repeat("]", 3000)+`}`))
	f.Add(domain.TypeRoomUpdated, 0, []byte(`{}`))
	f.Add(domain.TypeRoomUpdated, 3, []byte(`{}`))
	f.Add(domain.TypeRoomUpdated, -1<<31, []byte(`{}`))
	f.Add(domain.TypeUserBanned, 1, []byte("{\"reason\":\"\xff\x00\"}"))
	f.Fuzz(func(t *testing.T, typ string, version int, data []byte) {
		current := domain.SchemaVersion(typ)
		out, err := domain.Upcast(typ, version, data)
		if (version < 1 || version > current) && err == nil {
			t.Fatalf("%s: schema_version %d (current %d) was upcast to %s", typ, version, current, out)
		}
		if err != nil {
			if _, _, derr := domain.DecodeData(typ, version, data); derr == nil {
				t.Fatalf("%s v%d %q: Upcast refuses it (%v) but DecodeData decodes it", typ, version, data, err)
			}
			return
		}
		if version == current {
			if !bytes.Equal(out, data) {
				t.Fatalf("%s: data at the current version changed: %q -> %q", typ, data, out)
			}
			return
		}
		var in, up map[string]json.RawMessage
		if err := json.Unmarshal(data, &in); err != nil || in == nil {
			t.Fatalf("%s v%d: upcast accepted %q, which is no JSON object", typ, version, data)
		}
		if err := json.Unmarshal(out, &up); err != nil || up == nil {
			t.Fatalf("%s v%d: upcast %q into %q, which is no JSON object", typ, version, data, out)
		}
		for k, v := range in {
			if !jsonEqual(up[k], v) {
				t.Fatalf("%s v%d: field %q was %s, upcast made it %s", typ, version, k, v, up[k])
			}
		}
		d1, v1, err1 := domain.DecodeData(typ, version, data)
		d2, v2, err2 := domain.DecodeData(typ, current, out)
		if (err1 == nil) != (err2 == nil) || v1 != v2 || !reflect.DeepEqual(d1, d2) {
			t.Fatalf("%s v%d %q: decoding it (%#v, %v) is not decoding its upcast form %q (%#v, %v)", typ, version, data, d1, err1, out, d2, err2)
		}
	})
}

func readFixture(typ string, version int) ([]byte, error) {
	return os.ReadFile(fixture(typ, version, false))
}

// jsonEqual: a and b are the same JSON value (encoding/json escapes <, > and & when it writes
// raw JSON again; numbers are compared as written).
func jsonEqual(a, b json.RawMessage) bool {
	decode := func(r json.RawMessage) (any, bool) {
		d := json.NewDecoder(bytes.NewReader(r))
		d.UseNumber()
		var v any
		return v, d.Decode(&v) == nil
	}
	va, oka := decode(a)
	vb, okb := decode(b)
	return oka && okb && reflect.DeepEqual(va, vb)
}
