package projections

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
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
		b = appendJSONString(append(b, `"target":`...), p.Target)
		b = append(b, ',')
	}
	b = appendUUID(append(b, `"room_id":`...), p.RoomID)
	if len(p.RoomIDs) > 0 {
		b = appendUUIDs(append(b, `,"room_ids":`...), p.RoomIDs)
	}
	if len(p.UserIDs) > 0 {
		b = appendUUIDs(append(b, `,"user_ids":`...), p.UserIDs)
	}
	b = appendJSONString(append(b, `,"kind":`...), p.Kind)
	// omitempty never omits an array, and a uuid.UUID is one: json.Marshal writes both always.
	b = appendUUID(append(b, `,"user_id":`...), p.UserID)
	b = appendUUID(append(b, `,"except_user_id":`...), p.ExceptUserID)
	b = appendUUID(append(b, `,"command_id":`...), p.CommandID)
	if p.Position != "" {
		b = appendJSONString(append(b, `,"position":`...), p.Position)
	}
	if p.Entry != "" {
		b = appendJSONString(append(b, `,"entry":`...), p.Entry)
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
		if y := p.OccurredAt.Year(); y < 0 || y > 9999 {
			return nil, fmt.Errorf("push occurred_at %v: year outside [0,9999]", y)
		}
		b = append(b, `,"at":"`...)
		b = p.OccurredAt.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
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

// appendUUID appends id quoted in its canonical form, as uuid.UUID.MarshalText writes it.
func appendUUID(b []byte, id uuid.UUID) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i, x := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
	}
	return append(b, '"')
}

func appendUUIDs(b []byte, ids []uuid.UUID) []byte {
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendUUID(b, id)
	}
	return append(b, ']')
}

// appendJSONString appends s quoted as json.Marshal quotes it: plain printable ASCII as it is,
// anything else through json.Marshal itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s) // a string always encodes
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
