package kafka

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf8"
)

// jscan scans JSON text. It never panics and never loops on malformed input.
type jscan struct {
	b     []byte
	i     int
	visit func(name, value []byte) // value: called for object members
	// With track set, value notes in dirty whether the value has white space between tokens
	// or a member whose name is escaped or looks like a secret: whether it can be copied as is.
	track bool
	dirty bool
}

const maxJSONDepth = 1000

func (s *jscan) errf(what string) error {
	if s.i >= len(s.b) {
		return fmt.Errorf("invalid JSON: %s at the end", what)
	}
	return fmt.Errorf("invalid JSON: %s at byte %d", what, s.i)
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
			s.dirty = s.dirty || s.track
		default:
			return
		}
	}
}

func (s *jscan) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str scans a string at s.i and returns its content between the quotes, still escaped.
func (s *jscan) str() (raw []byte, escaped bool, err error) {
	if !s.eat('"') {
		return nil, false, s.errf("want a string")
	}
	start := s.i
	var high uint64 // the high bits of the bytes skipped 8 at a time: non-ASCII?
	ascii := true
	for s.i < len(s.b) {
		// Skip 8 bytes at a time while none is a quote, a backslash or a control character.
		for s.i+8 <= len(s.b) {
			x := binary.LittleEndian.Uint64(s.b[s.i:])
			high |= x & hiBits
			if m := special8(x); m != 0 {
				s.i += bits.TrailingZeros64(m) >> 3 // the lowest flag is always a true one
				break
			}
			s.i += 8
		}
		if s.i >= len(s.b) {
			break
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			if (!ascii || high != 0) && !utf8.Valid(raw) {
				return nil, false, s.errf("invalid UTF-8 in a string")
			}
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				s.i = len(s.b)
				return nil, false, s.errf("unterminated string")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) || !isHex4(s.b[s.i+2:s.i+6]) {
					return nil, false, s.errf("bad \\u escape")
				}
				s.i += 6
			default:
				return nil, false, s.errf("bad escape")
			}
		case c < 0x20:
			return nil, false, s.errf("control character in a string")
		default:
			if c >= 0x80 {
				ascii = false
			}
			s.i++
		}
	}
	return nil, false, s.errf("unterminated string")
}

const (
	loBits = 0x0101010101010101
	hiBits = 0x8080808080808080
)

// special8 is non-zero when one of the 8 bytes of x is '"', '\\' or below 0x20 (SWAR: a zero
// byte of v shows as (v - 0x01..) & ^v & 0x80..; bytes of 0x80 and up never count as below 0x20).
func special8(x uint64) uint64 {
	q := x ^ (loBits * '"')
	b := x ^ (loBits * '\\')
	return ((q-loBits) & ^q | (b-loBits) & ^b | (x-loBits*0x20) & ^x) & hiBits
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// idField reads a string value: an unescaped one as raw bytes (ParseEnvelope makes the strings
// of all of them at once), an escaped one decoded (null: neither).
func (s *jscan) idField() ([]byte, string, error) {
	if s.lit("null") {
		return nil, "", nil
	}
	start := s.i
	r, esc, err := s.str()
	if err != nil || !esc {
		return r, "", err
	}
	v, err := unquote(s.b[start:s.i])
	return nil, v, err
}

// unquote decodes a JSON string with escapes (rare: off the fast path).
func unquote(quoted []byte) (string, error) {
	var v string
	err := json.Unmarshal(quoted, &v)
	return v, err
}

// internedField reads a string value that is one of few (a type name), without allocating
// for the ones seen before.
func (s *jscan) internedField() (string, error) {
	if s.lit("null") {
		return "", nil
	}
	start := s.i
	raw, esc, err := s.str()
	if err != nil {
		return "", err
	}
	if esc {
		return unquote(s.b[start:s.i])
	}
	return intern(raw), nil
}

// parseUTC reads the one form of RFC 3339 time the command processor writes
// (2006-01-02T15:04:05.999999999Z); ok is false for anything else (time.Parse then decides).
func parseUTC(b []byte) (t time.Time, ok bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[len(b)-1] != 'Z' {
		return t, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day, hour, minute, sec := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2)
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return t, false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return t, false
		}
		if nsec = num(20, len(frac)-1); nsec < 0 {
			return t, false
		}
		for i := len(frac) - 1; i < 9; i++ {
			nsec *= 10
		}
	}
	t = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // February 30th and the like
		return time.Time{}, false
	}
	return t, true
}

// intField reads an integer value (null reads as 0).
func (s *jscan) intField() (int64, error) {
	if s.lit("null") {
		return 0, nil
	}
	start := s.i
	if err := s.number(); err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want an integer: %w", err)
	}
	return n, nil
}

// lit consumes the literal word if it is next.
func (s *jscan) lit(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

func (s *jscan) number() error {
	start := s.i
	s.eat('-')
	switch {
	case s.eat('0'):
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		s.digits()
	default:
		return s.errf("bad number")
	}
	if s.eat('.') {
		if s.digits() == 0 {
			return s.errf("bad number")
		}
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if s.digits() == 0 {
			return s.errf("bad number")
		}
	}
	if s.i == start {
		return s.errf("bad number")
	}
	return nil
}

func (s *jscan) digits() int {
	n := 0
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// value scans one value at s.i (after white space), calling visit for object members.
func (s *jscan) value(depth int) error {
	if depth > maxJSONDepth {
		return s.errf("nested too deeply")
	}
	s.ws()
	if s.i >= len(s.b) {
		return s.errf("want a value")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		s.i++
		s.ws()
		if s.eat('}') {
			return nil
		}
		for {
			s.ws()
			name, esc, err := s.str()
			if err != nil {
				return err
			}
			if s.track && (esc || SecretField(name)) {
				s.dirty = true
			}
			s.ws()
			if !s.eat(':') {
				return s.errf("want ':'")
			}
			s.ws()
			start := s.i
			if err := s.value(depth + 1); err != nil {
				return err
			}
			if s.visit != nil {
				s.visit(name, s.b[start:s.i])
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				return nil
			}
			return s.errf("want ',' or '}'")
		}
	case c == '[':
		s.i++
		s.ws()
		if s.eat(']') {
			return nil
		}
		for {
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			if s.eat(']') {
				return nil
			}
			return s.errf("want ',' or ']'")
		}
	case c == '"':
		_, _, err := s.str()
		return err
	case c == 't':
		if s.lit("true") {
			return nil
		}
	case c == 'f':
		if s.lit("false") {
			return nil
		}
	case c == 'n':
		if s.lit("null") {
			return nil
		}
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	}
	return s.errf("want a value")
}

// compact appends the value at s.i without white space and without the object members whose
// name (unescaped) drop matches.
func (s *jscan) compact(dst []byte, drop func([]byte) bool, depth int) ([]byte, error) {
	if depth > maxJSONDepth {
		return dst, s.errf("nested too deeply")
	}
	s.ws()
	if s.i >= len(s.b) {
		return dst, s.errf("want a value")
	}
	switch s.b[s.i] {
	case '{':
		s.i++
		dst = append(dst, '{')
		s.ws()
		if s.eat('}') {
			return append(dst, '}'), nil
		}
		first := true
		for {
			s.ws()
			start := s.i
			name, esc, err := s.str()
			if err != nil {
				return dst, err
			}
			end := s.i
			s.ws()
			if !s.eat(':') {
				return dst, s.errf("want ':'")
			}
			if esc {
				var n string
				if err := json.Unmarshal(s.b[start:end], &n); err != nil {
					return dst, err
				}
				name = []byte(n)
			}
			if drop != nil && drop(name) {
				if err := s.value(depth + 1); err != nil {
					return dst, err
				}
			} else {
				if !first {
					dst = append(dst, ',')
				}
				first = false
				dst = append(dst, s.b[start:end]...)
				dst = append(dst, ':')
				if dst, err = s.compact(dst, drop, depth+1); err != nil {
					return dst, err
				}
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				return append(dst, '}'), nil
			}
			return dst, s.errf("want ',' or '}'")
		}
	case '[':
		s.i++
		dst = append(dst, '[')
		s.ws()
		if s.eat(']') {
			return append(dst, ']'), nil
		}
		for {
			var err error
			if dst, err = s.compact(dst, drop, depth+1); err != nil {
				return dst, err
			}
			s.ws()
			if s.eat(',') {
				dst = append(dst, ',')
				continue
			}
			if s.eat(']') {
				return append(dst, ']'), nil
			}
			return dst, s.errf("want ',' or ']'")
		}
	default:
		start := s.i
		if err := s.value(depth); err != nil {
			return dst, err
		}
		return append(dst, s.b[start:s.i]...), nil
	}
}
