package gateway

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzHandleFrame drives the WebSocket frame decoder with arbitrary client frames. Whatever
// arrives, the socket must not panic, and every frame it answers at once must be one JSON object
// with a type, every error one with a code of the contract and a message; anything that is not a
// JSON object is answered error invalid_frame. Seeds are below and in
// testdata/fuzz/FuzzHandleFrame; `make fuzz` searches further (docs/operations.md).
func FuzzHandleFrame(f *testing.F) {
	for _, seed := range []string{
		`{"type":"ping","id":"1"}`,
		`{"type":"heartbeat"}`,
		`{"type":"send_message","id":"s","room_id":"6f2c6a52-9b0e-4e0c-a8a6-1d9b2f3b0c11","content":"hi"}`,
		`{"type":"send_message","room_id":"not-a-uuid","content":"hi"}`,
		`{"type":"edit_message","room_id":"6f2c6a52-9b0e-4e0c-a8a6-1d9b2f3b0c11","message_id":null,"content":1}`,
		`{"type":"join_room","room_id":"6f2c6a52-9b0e-4e0c-a8a6-1d9b2f3b0c11","password":"x"}`,
		`{"type":"resume","rooms":{"6f2c6a52-9b0e-4e0c-a8a6-1d9b2f3b0c11":"7"}}`,
		`{"type":"typing","room_id":""}`,
		`{"type":"mark_read","room_id":"6f2c6a52-9b0e-4e0c-a8a6-1d9b2f3b0c11","seq":-1}`,
		`{"type":"nope","id":{"x":1}}`,
		`{"type":7}`, `{"id":"only"}`, `[]`, `null`, `"ping"`, `{`, ``, "\xff\xfe",
		`{"type":"ping","type":"send_message"}`,
	} {
		f.Add([]byte(seed))
	}
	e := newEnv(f, nil)
	_, userID := e.user("fuzzer")
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newConn(e.gw, userID)
		c.handleFrame(data)
		var obj map[string]json.RawMessage
		isObject := json.Unmarshal(data, &obj) == nil && obj != nil
		first := true
		for {
			c.mu.Lock()
			b := c.nextLocked()
			c.mu.Unlock()
			switch {
			case b != nil:
				var out struct {
					Type    string `json:"type"`
					Code    string `json:"code"`
					Message string `json:"message"`
				}
				if !utf8.Valid(b) || json.Unmarshal(b, &out) != nil || out.Type == "" {
					t.Fatalf("frame %q answered with %q: not a JSON object with a type", data, b)
				}
				if _, known := statusByCode[out.Code]; out.Type == "error" && (!known || out.Message == "") {
					t.Fatalf("frame %q answered with %q: an error without a code of the contract or a message", data, b)
				}
				if first && !isObject && (out.Type != "error" || out.Code != codeInvalidFrame) {
					t.Fatalf("frame %q (not a JSON object) answered %q, want error invalid_frame", data, b)
				}
				first = false
			default:
				if first && !isObject {
					t.Fatalf("frame %q (not a JSON object) got no answer", data)
				}
				c.cancel()
				return
			}
		}
	})
}
