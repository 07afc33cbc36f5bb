package redis

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/projections"
)

// FuzzDecodePush: an entry of the push stream, as a gateway reads it (the watermill envelope,
// msgpack metadata, the JSON of a batch of pushes or of one push), is decoded or refused without
// a panic, and pushes it decodes are ones the publisher could have written: they re-encode to an
// entry that decodes to the same pushes.
func FuzzDecodePush(f *testing.F) {
	frame, _ := json.Marshal(map[string]any{"type": "message", "message": map[string]any{"content": "hi"}})
	good, _ := json.Marshal(projections.Push{RoomID: uuid.MustParse("6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60"), Kind: projections.PushMessage,
		CommandID: uuid.MustParse("f3e2d1c0-000e-4b9a-8877-665544332211"), Frame: frame})
	entry, err := redisstream.DefaultMarshallerUnmarshaller{}.Marshal("pushes", message.NewMessage(watermill.NewUUID(), good))
	if err != nil {
		f.Fatal(err)
	}
	withMeta := message.NewMessage(watermill.NewUUID(), good)
	withMeta.Metadata.Set("k", "v")
	entryMeta, err := redisstream.DefaultMarshallerUnmarshaller{}.Marshal("pushes", withMeta)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(entry[redisstream.UUIDHeaderKey].(string), entry["payload"].([]byte), []byte(nil))
	f.Add(entryMeta[redisstream.UUIDHeaderKey].(string), entryMeta["payload"].([]byte), entryMeta["metadata"].([]byte))
	f.Add("x", []byte(`{"kind":"message","frame":null}`), []byte{0x81, 0xa1})
	f.Add("x", []byte(`{"kind":"message","room_id":"nope","frame":{}}`), []byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Add("x", []byte(`{"kind":"message","frame":{"type":"message","x":"\u0000"}}`), []byte{0xc1})
	f.Add("x", []byte("{\"kind\":\"message\",\"frame\":\"\xff\"}"), []byte{0x92, 0x01})
	f.Add("x", []byte(`{"frame":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}`), []byte{0x80})
	f.Add("x", []byte(`[{"kind":"message","frame":{"type":"message"},"at":"2026-12-06T10:00:00.123456Z"},{"kind":"user_joined","frame":{}}]`), []byte(nil))
	f.Add("x", []byte(`[{"kind":"message","frame":{}},{"kind":"message","frame":7}]`), []byte(nil))
	f.Add("x", []byte(`[]`), []byte(nil))
	f.Add("x", []byte(`[{"frame":{},"at":"2026-12-06T10:00:00+00:00"}]`), []byte(nil))
	f.Fuzz(func(t *testing.T, id string, payload, metadata []byte) {
		values := map[string]any{redisstream.UUIDHeaderKey: id, "payload": string(payload), "metadata": string(metadata)}
		pushes, err := decodePushes(values)
		if err != nil {
			return
		}
		b, err := json.Marshal(pushes)
		if err != nil {
			t.Fatalf("%q: decoded pushes %+v do not encode: %v", payload, pushes, err)
		}
		again, err := decodePushes(map[string]any{redisstream.UUIDHeaderKey: id, "payload": string(b)})
		if err != nil {
			t.Fatalf("%q: decoded, its re-encoding %s does not: %v", payload, b, err)
		}
		if len(again) != len(pushes) {
			t.Fatalf("%q: %d pushes came back as %d", payload, len(pushes), len(again))
		}
		for i := range pushes {
			p, a := pushes[i], again[i]
			if !jsonSame(a.Frame, p.Frame) {
				t.Fatalf("%q: frame %s came back as %s", payload, p.Frame, a.Frame)
			}
			if !a.OccurredAt.Equal(p.OccurredAt) {
				t.Fatalf("%q: occurred_at %s came back as %s", payload, p.OccurredAt, a.OccurredAt)
			}
			a.Frame, p.Frame = nil, nil
			a.OccurredAt, p.OccurredAt = time.Time{}, time.Time{}
			if !reflect.DeepEqual(a, p) {
				t.Fatalf("%q: %+v came back as %+v", payload, p, a)
			}
		}
	})
}

// jsonSame: the same JSON value (json.Marshal compacts and escapes a RawMessage again).
func jsonSame(a, b json.RawMessage) bool {
	var va, vb any
	return json.Unmarshal(a, &va) == nil && json.Unmarshal(b, &vb) == nil && reflect.DeepEqual(va, vb)
}
