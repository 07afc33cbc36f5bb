package kafka_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/domain"
)

// FuzzDecodeEvent: the fast decoder of the log's events agrees with encoding/json (what
// domain.Event's UnmarshalJSON gives is the reference): whatever DecodeEvent accepts, encoding/json
// accepts as the same event; and what encoding/json accepts, DecodeEvent accepts too but for
// the refusals ParseEnvelope documents (no occurred_at, invalid UTF-8, nesting deeper than its
// limit). Seeds: the golden fixtures and the samples here, and testdata/fuzz/FuzzDecodeEvent.
func FuzzDecodeEvent(f *testing.F) {
	files, err := filepath.Glob("../../domain/testdata/events/*/v[0-9].json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden fixtures: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, ev := range sampleEvents(f) {
		b, _ := json.Marshal(ev)
		f.Add(b)
	}
	const head = `"occurred_at":"2026-01-01T00:00:00Z","schema_version":1,"data":{"room_id":"6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60"}`
	for _, s := range []string{
		`{"type":"RoomDeleted",` + head + `}`,
		`{"type":"RoomDeleted",` + head + `,"ID":"6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60"}`,
		`{"type":"RoomDeleted",` + head + `,"\u0069d":"6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60"}`,
		`{"type":"RoomDeleted",` + head + `,"version":null,"actor_id":null}`,
		`{"type":"RoomDeleted",` + head + `,"version":1e3}`,
		`{"type":"RoomDeleted",` + head + `,"version":99999999999999999999}`,
		`{"type":"RoomDeleted",` + head + `,"type":"RoomCreated"}`,
		`{"type":null,` + head + `}`,
		`{"type":"RoomDeleted",` + head + `,"id":""}`,
		`{"type":"RoomDeleted",` + head + `,"id":"6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60","id":null,"version":3,"version":null}`,
		`{"type":"RoomDeleted",` + head + `,"type":null,"occurred_at":null,"DATA":null}`,
		`{"type":"RoomDeleted","occurred_at":null,"schema_version":1,"data":{}}`,
		`{"type":"RoomDeleted","occurred_at":"2026-01-01T00:00:00Z","schema_version":1,"data":{"x":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}}`,
		"{\"type\":\"RoomDeleted\"," + head + ",\"x\":\"\xff\"}",
		`{"type":"RoomDeleted",` + head + `,"x":"\u0000"}`,
		`{"type":"RoomDeleted\ud800",` + head + `,"x":"\udc00\ud800"}`,
		`{"type":"RoomUpdated","occurred_at":"2026-01-01T00:00:00Z","schema_version":2,"data":{"name":"\ud83d\ude00\ud83d"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gerr := kafka.DecodeEvent(b)
		var want domain.Event
		werr := json.Unmarshal(b, &want)
		if gerr == nil {
			if werr != nil {
				t.Fatalf("DecodeEvent accepts %q, encoding/json refuses it: %v", b, werr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%q:\nDecodeEvent   %#v\nencoding/json %#v", b, got, want)
			}
			return
		}
		if werr != nil {
			return
		}
		switch msg := gerr.Error(); {
		case want.OccurredAt.IsZero() && strings.Contains(msg, "occurred_at"):
		case !utf8.Valid(b): // encoding/json puts U+FFFD in its place
		case strings.Contains(msg, "nested too deeply"):
		default:
			t.Fatalf("encoding/json accepts %q, DecodeEvent refuses it: %v", b, gerr)
		}
	})
}
