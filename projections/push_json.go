package projections

import (
	"encoding/json"
	"fmt"

	"github.com/chorus-chat/chorus/internal/jsonw"
)

// AppendJSON appends the push as json.Marshal writes it, byte for byte (TestPushAppendJSON),
// without reflection and without compacting the frame again: every push of a chat message
// passes here on its way to the push stream, and json.Marshal was 4% of the all-in-one
// process's CPU at saturation (docs/benchmarks.md). The frame must be one JSON value, as
// json.Marshal would have checked; a frame that is not is refused, so that one bad push cannot
// make its stream entry, and the pushes batched with it, unreadable.
func (p *Push) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	if p.Target != "" {
		b = jsonw.String(append(b, `"target":`...), p.Target)
		b = append(b, ',')
	}
	b = jsonw.UUID(append(b, `"room_id":`...), p.RoomID)
	if len(p.RoomIDs) > 0 {
		b = jsonw.UUIDs(append(b, `,"room_ids":`...), p.RoomIDs)
	}
	if len(p.UserIDs) > 0 {
		b = jsonw.UUIDs(append(b, `,"user_ids":`...), p.UserIDs)
	}
	b = jsonw.String(append(b, `,"kind":`...), p.Kind)
	// omitempty never omits an array, and a uuid.UUID is one: json.Marshal writes both always.
	b = jsonw.UUID(append(b, `,"user_id":`...), p.UserID)
	b = jsonw.UUID(append(b, `,"except_user_id":`...), p.ExceptUserID)
	b = jsonw.UUID(append(b, `,"command_id":`...), p.CommandID)
	if p.Position != "" {
		b = jsonw.String(append(b, `,"position":`...), p.Position)
	}
	if p.Entry != "" {
		b = jsonw.String(append(b, `,"entry":`...), p.Entry)
	}
	b = append(b, `,"frame":`...)
	switch {
	case p.Frame == nil:
		b = append(b, "null"...)
	case compactJSONObject(p.Frame):
		b = append(b, p.Frame...)
	default:
		// Anything else (spaces, escapes json.Marshal would write otherwise, or not JSON at
		// all) goes through json.Marshal, which compacts it or refuses it.
		enc, err := json.Marshal(p.Frame)
		if err != nil {
			return nil, fmt.Errorf("push frame: %w", err)
		}
		b = append(b, enc...)
	}
	if !p.OccurredAt.IsZero() {
		var ok bool
		if b, ok = jsonw.Time(append(b, `,"at":`...), p.OccurredAt); !ok {
			return nil, fmt.Errorf("push occurred_at %v: no JSON form (year outside [0,9999] or zone offset of a day)", p.OccurredAt)
		}
	}
	return append(b, '}'), nil
}

// compactJSONObject says whether raw is a valid JSON object that json.Marshal would copy as it
// is: no whitespace outside strings, and none of the bytes it escapes (<, >, &, U+2028, U+2029)
// inside them. A frame json.Marshal made is one.
func compactJSONObject(raw []byte) bool {
	if len(raw) < 2 || raw[0] != '{' || !json.Valid(raw) {
		return false
	}
	inString, escaped := false, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xE2 && i+2 < len(raw) && raw[i+1] == 0x80 && (raw[i+2] == 0xA8 || raw[i+2] == 0xA9):
			return false
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return true
}
