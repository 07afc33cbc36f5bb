package projections

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/internal/jsonw"
)

// DecodePushes reads a push stream entry's payload: the JSON array of a batch's pushes, or
// (written before batches were one entry) a single push object, with exactly json.Unmarshal's
// result (FuzzDecodePushes). Every gateway decodes every entry: with encoding/json that was 6%
// of the all-in-one process's CPU at saturation (docs/benchmarks.md). An array laid out as
// AppendJSON writes it is read directly; anything else (another field order, white space,
// escapes, unknown fields) goes through json.Unmarshal.
func DecodePushes(payload []byte) ([]Push, error) {
	if pushes, ok := decodeAppended(payload); ok {
		return pushes, nil
	}
	payload = bytes.TrimSpace(payload)
	var pushes []Push
	if len(payload) > 0 && payload[0] == '[' {
		if err := json.Unmarshal(payload, &pushes); err != nil {
			return nil, err
		}
		return pushes, nil
	}
	var push Push
	if err := json.Unmarshal(payload, &push); err != nil {
		return nil, err
	}
	return []Push{push}, nil
}

// decodeAppended reads a non-empty array of pushes in AppendJSON's layout; ok is false for
// anything else, and for what json.Unmarshal would refuse (the whole payload is checked first,
// so that a frame's end can be found without checking it again).
func decodeAppended(b []byte) (pushes []Push, ok bool) {
	if len(b) < 2 || b[0] != '[' || b[1] != '{' || !json.Valid(b) {
		return nil, false
	}
	r := jsonw.Reader{B: b, I: 1}
	for {
		var p Push
		if !push(&r, &p) {
			return nil, false
		}
		pushes = append(pushes, p)
		switch {
		case r.Eat(','):
		case r.Eat(']'):
			return pushes, r.End()
		default:
			return nil, false
		}
	}
}

// object passes over a JSON object, which json.Valid has checked, and returns it.
func object(r *jsonw.Reader) ([]byte, bool) {
	if r.I >= len(r.B) || r.B[r.I] != '{' {
		return nil, false
	}
	start, depth, inString := r.I, 0, false
	for ; r.I < len(r.B); r.I++ {
		c := r.B[r.I]
		switch {
		case inString && c == '\\':
			r.I++ // the escaped byte
		case inString:
			inString = c != '"'
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				r.I++
				return r.B[start:r.I], true
			}
		}
	}
	return nil, false
}

func uuids(r *jsonw.Reader) ([]uuid.UUID, bool) {
	if !r.Eat('[') || r.Eat(']') { // AppendJSON writes no empty list
		return nil, false
	}
	var out []uuid.UUID
	for {
		var id uuid.UUID
		if !r.UUID(&id) {
			return nil, false
		}
		out = append(out, id)
		if r.Eat(']') {
			return out, true
		}
		if !r.Eat(',') {
			return nil, false
		}
	}
}

// push reads one push object, its members in AppendJSON's order.
func push(r *jsonw.Reader, p *Push) bool {
	var ok bool
	if !r.Eat('{') {
		return false
	}
	if r.Key("target") {
		if p.Target, ok = r.String(); !ok || !r.Eat(',') {
			return false
		}
	}
	if !r.Key("room_id") || !r.UUID(&p.RoomID) {
		return false
	}
	if r.Next("room_ids") {
		if p.RoomIDs, ok = uuids(r); !ok {
			return false
		}
	}
	if r.Next("user_ids") {
		if p.UserIDs, ok = uuids(r); !ok {
			return false
		}
	}
	if !r.Next("kind") {
		return false
	}
	if p.Kind, ok = r.String(); !ok {
		return false
	}
	if !r.Next("user_id") || !r.UUID(&p.UserID) ||
		!r.Next("except_user_id") || !r.UUID(&p.ExceptUserID) ||
		!r.Next("command_id") || !r.UUID(&p.CommandID) {
		return false
	}
	if r.Next("position") {
		if p.Position, ok = r.String(); !ok {
			return false
		}
	}
	if r.Next("entry") {
		if p.Entry, ok = r.String(); !ok {
			return false
		}
	}
	if !r.Next("frame") {
		return false
	}
	if p.Frame, ok = object(r); !ok {
		return false
	}
	if r.Next("at") && !r.Time(&p.OccurredAt) {
		return false
	}
	return r.Eat('}')
}

// errNoFrameObject is a push whose frame is not a JSON object.
var errNoFrameObject = fmt.Errorf("push without a frame object")

// CheckFrames refuses pushes whose frame is not a JSON object: a gateway sends frames as they
// are, and one that is absent, null or a number would reach clients as a frame they cannot read.
func CheckFrames(pushes []Push) error {
	for _, push := range pushes {
		if f := bytes.TrimSpace(push.Frame); len(f) == 0 || f[0] != '{' {
			return errNoFrameObject
		}
	}
	return nil
}
