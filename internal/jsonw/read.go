package jsonw

import (
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Reader reads JSON laid out exactly as an encoder of this package's users writes it (members
// in a fixed order, no white space, strings without escapes), for decoders that read that layout
// directly and hand anything else to json.Unmarshal. What it accepts, json.Unmarshal reads to the
// same values: strings are taken as they are only when they need no unescaping (no backslash, no
// control character, valid UTF-8), UUIDs through uuid.UUID.UnmarshalText and times through
// time.Time.UnmarshalJSON, as json.Unmarshal calls them. Each method reports false, consuming
// nothing it cannot take, at anything else.
type Reader struct {
	B []byte
	I int
}

// Eat takes the byte c.
func (r *Reader) Eat(c byte) bool {
	if r.I < len(r.B) && r.B[r.I] == c {
		r.I++
		return true
	}
	return false
}

// Key takes `"name":`.
func (r *Reader) Key(name string) bool {
	n := len(name)
	if r.I+n+3 > len(r.B) || r.B[r.I] != '"' || string(r.B[r.I+1:r.I+1+n]) != name || r.B[r.I+1+n] != '"' || r.B[r.I+2+n] != ':' {
		return false
	}
	r.I += n + 3
	return true
}

// Next takes `,"name":`.
func (r *Reader) Next(name string) bool {
	if r.I >= len(r.B) || r.B[r.I] != ',' {
		return false
	}
	r.I++
	if r.Key(name) {
		return true
	}
	r.I--
	return false
}

// Raw takes a string that needs no unescaping and returns its bytes.
func (r *Reader) Raw() ([]byte, bool) {
	if !r.Eat('"') {
		return nil, false
	}
	start, ascii := r.I, true
	for ; r.I < len(r.B); r.I++ {
		switch c := r.B[r.I]; {
		case c == '"':
			s := r.B[start:r.I]
			if !ascii && !utf8.Valid(s) { // json.Unmarshal would replace what is not UTF-8
				r.I = start - 1
				return nil, false
			}
			r.I++
			return s, true
		case c < 0x20 || c == '\\':
			r.I = start - 1
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	r.I = start - 1
	return nil, false
}

// String takes a string that needs no unescaping.
func (r *Reader) String() (string, bool) {
	s, ok := r.Raw()
	return string(s), ok
}

// UUID takes a string into id as json.Unmarshal does.
func (r *Reader) UUID(id *uuid.UUID) bool {
	at := r.I
	s, ok := r.Raw()
	if !ok || id.UnmarshalText(s) != nil {
		r.I = at
		return false
	}
	return true
}

// Time takes a string into t as json.Unmarshal does.
func (r *Reader) Time(t *time.Time) bool {
	at := r.I
	if _, ok := r.Raw(); !ok || t.UnmarshalJSON(r.B[at:r.I]) != nil {
		r.I = at
		return false
	}
	return true
}

// End tells whether everything was read.
func (r *Reader) End() bool { return r.I == len(r.B) }
