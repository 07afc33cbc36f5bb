package kafka

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// What json.Marshal writes of a MessageSent takes the fast path and decodes as encoding/json
// decodes it; any other shape is left to encoding/json.
func TestMessageSentFast(t *testing.T) {
	room, reply := uuid.New(), uuid.New()
	at := time.Date(2026, 12, 6, 10, 0, 0, 123456000, time.UTC)
	for _, m := range []domain.MessageData{
		{ID: uuid.New(), RoomID: room, SenderID: uuid.New(), Content: "hello", MessageType: domain.MessageText, Seq: 1, CreatedAt: at},
		{ID: uuid.New(), RoomID: room, SenderID: uuid.New(), Content: "grüße, 日本語 ✓", MessageType: domain.MessageText, ReplyToMessageID: &reply, Seq: 123456789012, ClientMsgID: "c-1", CreatedAt: at.In(time.FixedZone("x", 3600))},
		{ID: uuid.New(), RoomID: room, SenderID: uuid.New(), Seq: 0, CreatedAt: time.Time{}},
	} {
		b, _ := json.Marshal(domain.MessageSent{RoomID: room, Message: m})
		got, ok := messageSentFast(b)
		if !ok {
			t.Fatalf("fast path refused %s", b)
		}
		var want domain.MessageSent
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\nfast          %#v\nencoding/json %#v", b, got, want)
		}
	}
	id := `"6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60"`
	for _, s := range []string{
		`{"room_id":` + id + `,"message":{"content":"a\"b"}}`,              // escapes
		`{"room_id":` + id + `, "message":{}}`,                             // white space
		`{"Room_id":` + id + `,"message":{}}`,                              // another spelling
		`{"room_id":` + id + `,"room_id":` + id + `,"message":{}}`,         // twice
		`{"room_id":` + id + `,"message":{"seq":1e3}}`,                     // not a plain integer
		`{"room_id":` + id + `,"message":{"seq":1.0}}`,                     //
		`{"room_id":null,"message":{}}`,                                    // null
		`{"room_id":` + id + `,"message":{"id":null}}`,                     //
		`{"room_id":` + id + `,"message":{"x":1}}`,                         // unknown member
		`{"room_id":` + id + `,"message":{"seq":1234567890123456789}}`,     // 19 digits
		`{"room_id":` + id + `,"message":{"created_at":"2026-01-01"}}`,     // refused by time
		`{"room_id":"{6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60","message":{}}`, // refused by uuid
	} {
		if _, ok := messageSentFast([]byte(s)); ok {
			t.Errorf("fast path took %s", s)
		}
	}
}
