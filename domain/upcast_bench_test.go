package domain_test

import (
	"encoding/json"
	"testing"

	"github.com/chorus-chat/chorus/domain"
)

// benchEnvelope is a MessageSent as the processor writes it today: the hot path of every
// projector and the replay tool.
const benchEnvelope = `{"id":"0e000000-0000-4000-8000-0000000000ee","type":"MessageSent","aggregate_type":"room",` +
	`"aggregate_id":"11111111-1111-4111-8111-111111111111","version":42,"occurred_at":"2025-03-14T14:09:26.535897Z",` +
	`"actor_id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb","command_id":"0e000000-0000-4000-8000-0000000000cc","schema_version":1,` +
	`"data":{"room_id":"11111111-1111-4111-8111-111111111111","message":{"id":"22222222-2222-4222-8222-222222222222",` +
	`"room_id":"11111111-1111-4111-8111-111111111111","sender_id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",` +
	`"content":"hello there, how is everyone today?","message_type":"text","reply_to_message_id":null,"seq":41,` +
	`"client_msg_id":"c-1","created_at":"2025-03-14T14:09:26.535897Z"}}}`

// Decoding an event at its current schema version: the upcaster chain must cost nothing here.
func BenchmarkEventUnmarshalCurrent(b *testing.B) {
	in := []byte(benchEnvelope)
	b.ReportAllocs()
	for b.Loop() {
		var e domain.Event
		if err := json.Unmarshal(in, &e); err != nil {
			b.Fatal(err)
		}
	}
}

// Decoding a v1 UserBanned: the price of one upcast step, paid only by events of old releases.
func BenchmarkEventUnmarshalUpcast(b *testing.B) {
	in := []byte(`{"id":"0b9e000a-5d1c-5a3e-9f2b-7c6d5e4f3a2b","type":"UserBanned","aggregate_type":"room",` +
		`"aggregate_id":"6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60","version":24,"occurred_at":"2025-04-10T13:20:02.523101Z",` +
		`"actor_id":"3a7b9c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d","command_id":"f3e2d1c0-000a-4b9a-8877-665544332211","schema_version":1,` +
		`"data":{"room_id":"6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60","user_id":"c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e4f5",` +
		`"banned_by":"3a7b9c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d","reason":"repeated spam after a warning"}}`)
	b.ReportAllocs()
	for b.Loop() {
		var e domain.Event
		if err := json.Unmarshal(in, &e); err != nil {
			b.Fatal(err)
		}
	}
}
