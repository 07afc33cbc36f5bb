package projections

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
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
	d := appendedDecoder{b: b, i: 1}
	for {
		var p Push
		if !d.push(&p) {
			return nil, false
		}
		pushes = append(pushes, p)
		switch {
		case d.eat(','):
		case d.eat(']'):
			return pushes, d.i == len(b)
		default:
			return nil, false
		}
	}
}

type appendedDecoder struct {
	b []byte
	i int
}

func (d *appendedDecoder) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// key eats `"name":` (name, quotes and colon), or nothing.
func (d *appendedDecoder) key(name string) bool {
	n := len(name)
	if d.i+n+3 > len(d.b) || d.b[d.i] != '"' || string(d.b[d.i+1:d.i+1+n]) != name || d.b[d.i+1+n] != '"' || d.b[d.i+2+n] != ':' {
		return false
	}
	d.i += n + 3
	return true
}

// plain reads a string of printable ASCII without escapes: json.Unmarshal gives its bytes as
// they are.
func (d *appendedDecoder) plain() ([]byte, bool) {
	if !d.eat('"') {
		return nil, false
	}
	start := d.i
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

func (d *appendedDecoder) str() (string, bool) {
	s, ok := d.plain()
	return string(s), ok
}

// id reads a string into a UUID as json.Unmarshal does (uuid.UUID.UnmarshalText).
func (d *appendedDecoder) id(id *uuid.UUID) bool {
	s, ok := d.plain()
	return ok && id.UnmarshalText(s) == nil
}

func (d *appendedDecoder) ids() ([]uuid.UUID, bool) {
	if !d.eat('[') || d.eat(']') { // AppendJSON writes no empty list
		return nil, false
	}
	var out []uuid.UUID
	for {
		var id uuid.UUID
		if !d.id(&id) {
			return nil, false
		}
		out = append(out, id)
		if d.eat(']') {
			return out, true
		}
		if !d.eat(',') {
			return nil, false
		}
	}
}

// object passes over a JSON object, which json.Valid has checked, and returns it.
func (d *appendedDecoder) object() ([]byte, bool) {
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return nil, false
	}
	start, depth, inString := d.i, 0, false
	for ; d.i < len(d.b); d.i++ {
		c := d.b[d.i]
		switch {
		case inString && c == '\\':
			d.i++ // the escaped byte
		case inString:
			inString = c != '"'
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				d.i++
				return d.b[start:d.i], true
			}
		}
	}
	return nil, false
}

// next eats `,"name":`, or nothing.
func (d *appendedDecoder) next(name string) bool {
	if !d.eat(',') {
		return false
	}
	if d.key(name) {
		return true
	}
	d.i--
	return false
}

// push reads one push object, its members in AppendJSON's order.
func (d *appendedDecoder) push(p *Push) bool {
	var ok bool
	if !d.eat('{') {
		return false
	}
	if d.key("target") {
		if p.Target, ok = d.str(); !ok || !d.eat(',') {
			return false
		}
	}
	if !d.key("room_id") || !d.id(&p.RoomID) {
		return false
	}
	if d.next("room_ids") {
		if p.RoomIDs, ok = d.ids(); !ok {
			return false
		}
	}
	if d.next("user_ids") {
		if p.UserIDs, ok = d.ids(); !ok {
			return false
		}
	}
	if !d.next("kind") {
		return false
	}
	if p.Kind, ok = d.str(); !ok {
		return false
	}
	if !d.next("user_id") || !d.id(&p.UserID) ||
		!d.next("except_user_id") || !d.id(&p.ExceptUserID) ||
		!d.next("command_id") || !d.id(&p.CommandID) {
		return false
	}
	if d.next("position") {
		if p.Position, ok = d.str(); !ok {
			return false
		}
	}
	if d.next("entry") {
		if p.Entry, ok = d.str(); !ok {
			return false
		}
	}
	if !d.next("frame") {
		return false
	}
	if p.Frame, ok = d.object(); !ok {
		return false
	}
	if d.next("at") {
		at, ok := d.plain()
		if !ok || p.OccurredAt.UnmarshalJSON(d.b[d.i-len(at)-2:d.i]) != nil {
			return false
		}
	}
	return d.eat('}')
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
