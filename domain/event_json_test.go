package domain

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
)

// maybeID is a new id or, half the time, nil.
func maybeID(rng *rand.Rand) *uuid.UUID {
	if rng.IntN(2) == 0 {
		return nil
	}
	id := uuid.New()
	return &id
}

func randomMessageSent(rng *rand.Rand) Event {
	strs := []string{"", "hi", "a\"b", `back\slash`, "tab\there", "<b>&amp;</b>", "héllo 世界", "line\u2028sep", "\x00\x1f", "\xff\xfe invalid utf-8", "text", "send_message"}
	pick := func() string { return strs[rng.IntN(len(strs))] }
	at := func() time.Time {
		t := time.Unix(rng.Int64N(4e9), rng.Int64N(1e9))
		switch rng.IntN(3) {
		case 0:
			return t.UTC()
		case 1:
			return t.In(time.FixedZone("z", rng.IntN(200000)-100000)) // some a day or more away: refused
		}
		return t.AddDate(rng.IntN(20000)-10000, 0, 0) // some outside the years 0 to 9999: refused
	}
	room := uuid.New()
	return Event{
		ID: uuid.New(), Type: pick(), AggregateType: pick(), AggregateID: room, Version: rng.Int64N(1e6) - 5,
		OccurredAt: at(), ActorID: uuid.New(), CommandID: uuid.New(), SchemaVersion: rng.IntN(4), ActingID: maybeID(rng),
		Data: MessageSent{RoomID: room, Message: MessageData{
			ID: uuid.New(), RoomID: room, SenderID: uuid.New(), Content: pick(), MessageType: pick(),
			ReplyToMessageID: maybeID(rng), Seq: rng.Int64N(1e9), ClientMsgID: pick(), CreatedAt: at(),
		}},
	}
}

// TestEventAppendJSON: AppendJSON writes what json.Marshal writes, byte for byte, for message
// events of every shape (optional fields set or not, strings json.Marshal escapes, times in any
// zone) and for the other events, and refuses what json.Marshal refuses.
func TestEventAppendJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	refused := 0
	for range 3000 {
		ev := randomMessageSent(rng)
		if rng.IntN(10) == 0 {
			ev.Data = RoomCreated{Name: "general", OwnerID: uuid.New()}
		}
		want, werr := json.Marshal(&ev)
		got, err := ev.AppendJSON([]byte("prefix"))
		if (err == nil) != (werr == nil) {
			t.Fatalf("%+v: error %v, json.Marshal's %v", ev, err, werr)
		}
		if err != nil {
			refused++
			continue
		}
		if !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("AppendJSON:\n%s\njson.Marshal:\n%s", got[len("prefix"):], want)
		}
	}
	if refused == 0 || refused > 2500 {
		t.Fatalf("%d of 3000 refused: the times outside JSON's range were not both kinds", refused)
	}
}

func BenchmarkEventEncode(b *testing.B) {
	room := uuid.New()
	ev := Event{ID: uuid.New(), Type: "MessageSent", AggregateType: "Room", AggregateID: room, Version: 42,
		OccurredAt: time.Now().UTC(), ActorID: uuid.New(), CommandID: uuid.New(), SchemaVersion: 1,
		Data: MessageSent{RoomID: room, Message: MessageData{ID: uuid.New(), RoomID: room, SenderID: uuid.New(),
			Content: "hello there, how is it going", MessageType: "text", Seq: 41, CreatedAt: time.Now().UTC()}}}
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ev.AppendJSON(nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
