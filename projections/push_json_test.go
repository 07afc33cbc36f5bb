package projections

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestPushAppendJSON: AppendJSON writes what json.Marshal writes, byte for byte, for pushes of
// every shape (optional fields set or not, strings and frames json.Marshal escapes or compacts),
// and refuses what json.Marshal refuses.
func TestPushAppendJSON(t *testing.T) {
	strs := []string{"", "room", "chat-events:3:1042", "a\"b", `back\slash`, "tab\there", "<b>&amp;</b>", "héllo", "line\u2028sep", "\x00\x1f", "\xff\xfe invalid utf-8"}
	frames := []json.RawMessage{
		nil,
		json.RawMessage(`{"type":"message","message":{"content":"hi","seq":3}}`),
		json.RawMessage(`{"type":"message","message":{"content":"\u003cscript\u003e \"q\" \\ é"}}`),
		json.RawMessage(`{"type":"x","text":"<b>&</b>"}`),           // json.Marshal escapes these
		json.RawMessage("{\"type\":\"x\",\"t\":\"a\u2028b\"}"),      // and these
		json.RawMessage(` { "type" : "spaced", "list" : [1, 2] } `), // and compacts this
		json.RawMessage(`{"s":"a \"}\" { b"}`),
		json.RawMessage(`[1,2]`),
		json.RawMessage(`"just a string"`),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	ids := func() []uuid.UUID {
		n := rng.IntN(3)
		if n == 0 {
			return nil
		}
		out := make([]uuid.UUID, n)
		for i := range out {
			out[i] = uuid.New()
		}
		return out
	}
	maybe := func() uuid.UUID {
		if rng.IntN(2) == 0 {
			return uuid.Nil
		}
		return uuid.New()
	}
	for i := range 2000 {
		p := Push{
			Target: pick(strs), RoomID: maybe(), RoomIDs: ids(), UserIDs: ids(), Kind: pick(strs),
			UserID: maybe(), ExceptUserID: maybe(), CommandID: maybe(), Position: pick(strs), Entry: pick(strs),
			Frame: frames[rng.IntN(len(frames))],
		}
		if rng.IntN(2) == 0 {
			p.OccurredAt = time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).In(time.FixedZone("z", rng.IntN(50000)-25000))
		}
		if i%7 == 0 {
			p.RoomIDs = []uuid.UUID{} // empty, not nil: omitted too
		}
		want, err := json.Marshal(&p)
		if err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		got, err := p.AppendJSON([]byte("prefix"))
		if err != nil {
			t.Fatalf("AppendJSON(%+v): %v", p, err)
		}
		if string(got) != "prefix"+string(want) {
			t.Fatalf("AppendJSON wrote\n%s\njson.Marshal writes\n%s", got[len("prefix"):], want)
		}
	}
	for _, bad := range []json.RawMessage{json.RawMessage(`{"type":`), json.RawMessage(`{} {}`), json.RawMessage(`nope`), {}} {
		p := Push{Kind: PushMessage, Frame: bad}
		if _, err := json.Marshal(&p); err == nil {
			t.Fatalf("json.Marshal took frame %q", bad)
		}
		if _, err := p.AppendJSON(nil); err == nil {
			t.Errorf("AppendJSON took frame %q, which json.Marshal refuses", bad)
		}
	}
}

func BenchmarkPushEncode(b *testing.B) {
	frame, _ := json.Marshal(MessageFrame{Type: "message", Message: Message{ID: uuid.New(), RoomID: uuid.New(), SenderID: uuid.New(), Content: "bench 1765000000000000000", Seq: 42}})
	p := Push{Target: "", RoomID: uuid.New(), Kind: PushMessage, CommandID: uuid.New(), Position: "chat-events:3:1042", Frame: frame, OccurredAt: time.Now()}
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(&p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = p.AppendJSON(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
