package domain

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

func randomSend(rng *rand.Rand) Command {
	strs := []string{"", "hi", "naïve ☕ 世界", "text", "alice", "héllo \u2028", "a\"b", "<b>&</b>", "tab\there", "\xff"}
	pick := func() string { return strs[rng.IntN(len(strs))] }
	c := NewCommand(uuid.New(), uuid.New(), uuid.New(), pick(),
		time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).In(time.FixedZone("z", rng.IntN(80000)-40000)),
		SendMessage{Content: pick(), MessageType: pick(), ReplyToMessageID: maybeID(rng), ClientMsgID: pick()})
	c.CorrelationID, c.ActingID = pick(), maybeID(rng)
	if rng.IntN(4) == 0 {
		c.AggregateType = pick()
	}
	return c
}

// TestCommandUnmarshalReadsWhatTheLogHolds: a send_message as the command publisher writes it
// (json.Marshal) is read directly unless a string needs unescaping, and comes back as
// encoding/json reads it.
func TestCommandUnmarshalReadsWhatTheLogHolds(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	direct := 0
	for range 3000 {
		b, err := json.Marshal(randomSend(rng))
		if err != nil {
			t.Fatal(err)
		}
		var got, want Command
		ok := decodeSendMessage(b, &got)
		if ok {
			direct++
		} else if err := got.UnmarshalJSON(b); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		// Only what json.Marshal escapes (a quote, <, &, U+2028, a tab, invalid UTF-8) goes the long way.
		if plain := !bytes.Contains(b, []byte(`\`)); plain != ok {
			t.Fatalf("%s: read directly %v, want %v", b, ok, plain)
		}
		if err := want.unmarshalJSON(b); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %#v\nwant %#v (%v)", b, got, want, err)
		}
	}
	if direct == 0 {
		t.Fatal("no command was read directly")
	}
}

// FuzzCommandUnmarshalDirect: whatever the record, a command read directly is the one
// encoding/json reads.
func FuzzCommandUnmarshalDirect(f *testing.F) {
	rng := rand.New(rand.NewPCG(13, 14))
	for range 20 {
		b, _ := json.Marshal(randomSend(rng))
		f.Add(b)
	}
	id := `"6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60"`
	head := `{"id":` + id + `,"type":"send_message","aggregate_type":"room","aggregate_id":` + id + `,"actor_id":` + id + `,"actor_name":"a","issued_at":"2026-12-06T10:00:00Z","payload":{"content":"x"`
	for _, s := range []string{
		head + `}}`, head + `}} `, head + `}}x`, head + `},"acting_id":null}`, head + `,"reply_to_message_id":null}}`,
		head + `},"correlation_id":"c","acting_id":` + id + `}`, head + `,"content":"y"}}`, head + `},"payload":{}}`,
		`{"id":"6F1C2A4E-8B3D-4C5E-9F7A-1B2C3D4E5F60","type":"send_message","aggregate_type":"room","aggregate_id":` + id + `,"actor_id":` + id + `,"actor_name":"a","issued_at":"2026-12-06T24:00:00Z","payload":{"content":"x"}}`,
		`{"id":` + id + `,"type":"edit_message","aggregate_type":"room","aggregate_id":` + id + `,"actor_id":` + id + `,"actor_name":"a","issued_at":"2026-12-06T10:00:00Z","payload":{"content":"x"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got Command
		if !decodeSendMessage(b, &got) {
			return
		}
		var want Command
		if err := want.unmarshalJSON(b); err != nil {
			t.Fatalf("%q read directly as %#v, but encoding/json refuses it: %v", b, got, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %#v\nwant %#v", b, got, want)
		}
	})
}

func BenchmarkCommandDecode(b *testing.B) {
	rec, _ := json.Marshal(NewCommand(uuid.New(), uuid.New(), uuid.New(), "alice", time.Now(),
		SendMessage{Content: "hello there, how is it going", ClientMsgID: "k-42"}))
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c Command
			if err := c.unmarshalJSON(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UnmarshalJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c Command
			if err := c.UnmarshalJSON(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}
