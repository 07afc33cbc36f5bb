package projections

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// referenceDecode is DecodePushes without its own reader: json.Unmarshal alone.
func referenceDecode(payload []byte) ([]Push, error) {
	payload = bytes.TrimSpace(payload)
	var pushes []Push
	if len(payload) > 0 && payload[0] == '[' {
		err := json.Unmarshal(payload, &pushes)
		return pushes, err
	}
	var push Push
	if err := json.Unmarshal(payload, &push); err != nil {
		return nil, err
	}
	return []Push{push}, nil
}

// appendedBatch is a stream entry's payload as the push projection writes it.
func appendedBatch(t testing.TB, pushes []Push) []byte {
	b := []byte{'['}
	for i := range pushes {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = pushes[i].AppendJSON(b); err != nil {
			t.Fatal(err)
		}
	}
	return append(b, ']')
}

func randomPushes(rng *rand.Rand) []Push {
	strs := []string{"", "room", "chat-events:3:1042", "a\"b", "<b>", "héllo", "1733480000000-0"}
	frames := []json.RawMessage{
		json.RawMessage(`{"type":"message","message":{"content":"hi","seq":3}}`),
		json.RawMessage(`{"type":"message","message":{"content":"\u003cscript\u003e \"}]\" \\ é {[","seq":4}}`),
		json.RawMessage(`{"type":"x","list":[{"a":[]},{}],"n":-1.5e3,"t":true,"f":null}`),
	}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	ids := func() []uuid.UUID {
		out := make([]uuid.UUID, rng.IntN(3))
		for i := range out {
			out[i] = uuid.New()
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	maybe := func() uuid.UUID {
		if rng.IntN(2) == 0 {
			return uuid.Nil
		}
		return uuid.New()
	}
	pushes := make([]Push, 1+rng.IntN(4))
	for i := range pushes {
		pushes[i] = Push{Target: pick(strs), RoomID: maybe(), RoomIDs: ids(), UserIDs: ids(), Kind: pick(strs),
			UserID: maybe(), ExceptUserID: maybe(), CommandID: maybe(), Position: pick(strs), Entry: pick(strs),
			Frame: frames[rng.IntN(len(frames))]}
		if rng.IntN(2) == 0 {
			pushes[i].OccurredAt = time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).UTC()
		}
	}
	return pushes
}

// TestDecodePushesReadsWhatTheProjectionWrites: batches AppendJSON wrote are read by the direct
// reader (not handed to json.Unmarshal: the gain would be gone unnoticed) and come back as
// they were, as json.Unmarshal reads them.
func TestDecodePushesReadsWhatTheProjectionWrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	direct := 0
	for range 2000 {
		pushes := randomPushes(rng)
		b := appendedBatch(t, pushes)
		got, err := DecodePushes(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		want, err := referenceDecode(b)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %+v\nwant %+v (%v)", b, got, want, err)
		}
		_, ok := decodeAppended(b)
		if ok {
			direct++
		}
		// Only strings with characters AppendJSON escapes ("a\"b", "<b>") go the long way.
		plain := true
		for _, p := range pushes {
			for _, s := range []string{p.Target, p.Kind, p.Position, p.Entry} {
				plain = plain && !strings.ContainsAny(s, "\"<")
			}
		}
		if plain != ok {
			t.Fatalf("%s: read directly %v, want %v", b, ok, plain)
		}
	}
	if direct == 0 {
		t.Fatal("no batch was read directly")
	}
}

// FuzzDecodePushes: whatever the payload, DecodePushes gives what json.Unmarshal gives (the same
// pushes, or an error where it errs).
func FuzzDecodePushes(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		f.Add(appendedBatch(f, randomPushes(rng)))
	}
	id := `"6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60"`
	plain := `{"room_id":` + id + `,"kind":"message","user_id":` + id + `,"except_user_id":` + id + `,"command_id":` + id + `,"frame":{}`
	for _, s := range []string{
		`[` + plain + `}]`,
		`[` + plain + `,"at":"2026-12-06T10:00:00.123456Z"}]`,
		`[` + plain + `,"at":"2026-12-06T10:00:00+25:00"}]`,
		`[` + plain + `,"at":null}]`,
		`[` + plain + `,"at":"2026-12-06T24:00:00Z"}]`,
		`[` + plain + `},` + plain + `}] `,
		`[` + plain + `,"extra":1}]`,
		`[{"target":"x","room_id":` + id + `,"room_ids":[],"kind":"m","user_id":` + id + `,"except_user_id":` + id + `,"command_id":` + id + `,"frame":{}}]`,
		`[{"room_id":"6F1C2A4E-8B3D-4C5E-9F7A-1B2C3D4E5F60","kind":"m","user_id":"urn:uuid:` + id[1:] + `,"except_user_id":"{6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60}","command_id":"6f1c2a4e8b3d4c5e9f7a1b2c3d4e5f60","frame":{}}]`,
		`[{"room_id":"nope","kind":"m","user_id":` + id + `,"except_user_id":` + id + `,"command_id":` + id + `,"frame":{}}]`,
		`[` + plain + `,"frame":[]}]`,
		`[{"room_id":` + id + `,"kind":"m","user_id":` + id + `,"except_user_id":` + id + `,"command_id":` + id + `,"frame":7}]`,
		`{"room_id":` + id + `,"kind":"m","frame":{}}`,
		`[{"Room_ID":` + id + `,"kind":"m","user_id":` + id + `,"except_user_id":` + id + `,"command_id":` + id + `,"frame":{}}]`,
		`[{"frame":{"s":"a \"}\" { b"}}]`,
		`[{"room_id":` + id + `,"kind":` + "\"h\xc3\xa9 \u2028\"" + `,"user_id":` + id + `,"except_user_id":` + id + `,"command_id":` + id + `,"frame":{}}]`,
		`[{"room_id":` + id + `,"kind":` + "\"\xff\xfe\"" + `,"user_id":` + id + `,"except_user_id":` + id + `,"command_id":` + id + `,"frame":{}}]`,
		`[{"room_id":` + id + `,"kind":` + "\"tab\there\"" + `,"user_id":` + id + `,"except_user_id":` + id + `,"command_id":` + id + `,"frame":{}}]`,
		`[]`, `[`, `[{`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, err := DecodePushes(payload)
		want, werr := referenceDecode(payload)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: error %v, json.Unmarshal's %v", payload, err, werr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", payload, got, want)
		}
	})
}

func BenchmarkPushDecode(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	pushes := randomPushes(rng)
	for i := range pushes {
		pushes[i].Target, pushes[i].Kind, pushes[i].Position, pushes[i].Entry = "", "message", "chat-events:3:1042", "1733480000000-0"
	}
	payload := appendedBatch(b, pushes)
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := referenceDecode(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DecodePushes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodePushes(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}
