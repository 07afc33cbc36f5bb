package redis

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/projections"
)

// FuzzDecodePush: an entry of the push stream, as a gateway reads it (the watermill envelope,
// msgpack metadata, the push's JSON), is decoded or refused without a panic, and a push it
// decodes is one the publisher could have written: it re-encodes to an entry that decodes to
// the same push.
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
	f.Fuzz(func(t *testing.T, id string, payload, metadata []byte) {
		values := map[string]any{redisstream.UUIDHeaderKey: id, "payload": string(payload), "metadata": string(metadata)}
		push, err := decodePush(values)
		if err != nil {
			return
		}
		b, err := json.Marshal(push)
		if err != nil {
			t.Fatalf("%q: decoded push %+v does not encode: %v", payload, push, err)
		}
		again, err := decodePush(map[string]any{redisstream.UUIDHeaderKey: id, "payload": string(b)})
		if err != nil {
			t.Fatalf("%q: decoded, its re-encoding %s does not: %v", payload, b, err)
		}
		if !jsonSame(again.Frame, push.Frame) {
			t.Fatalf("%q: frame %s came back as %s", payload, push.Frame, again.Frame)
		}
		again.Frame, push.Frame = nil, nil
		if !reflect.DeepEqual(again, push) {
			t.Fatalf("%q: %+v came back as %+v", payload, push, again)
		}
	})
}

// jsonSame: the same JSON value (json.Marshal compacts and escapes a RawMessage again).
func jsonSame(a, b json.RawMessage) bool {
	var va, vb any
	return json.Unmarshal(a, &va) == nil && json.Unmarshal(b, &vb) == nil && reflect.DeepEqual(va, vb)
}
