// Package jsonw appends JSON values exactly as encoding/json's Marshal writes them, without
// reflection, for the encoders on the message path (push stream entries, event envelopes, the
// events a command processor appends). Each encoder that uses it is tested byte for byte against
// json.Marshal.
package jsonw

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// String appends s quoted as json.Marshal quotes it: plain printable ASCII as it is, anything
// else (escapes, HTML characters, non-ASCII, invalid UTF-8) through json.Marshal itself.
func String(b []byte, s string) []byte {
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

// UUID appends id quoted in its canonical form, as uuid.UUID.MarshalText writes it.
func UUID(b []byte, id uuid.UUID) []byte {
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

// UUIDs appends ids as a JSON array.
func UUIDs(b []byte, ids []uuid.UUID) []byte {
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = UUID(b, id)
	}
	return append(b, ']')
}

// Time appends t quoted as time.Time.MarshalJSON writes it (RFC 3339 with nanoseconds), or
// reports false for a time MarshalJSON refuses: a year outside 0 to 9999, or a zone offset of a
// day or more.
func Time(b []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}
