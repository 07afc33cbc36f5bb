package kafka

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chorus-chat/chorus/internal/jsonw"
)

// The event envelope as the log holds it, parsed in one pass without decoding the data, and the
// redaction of secret fields: what replay, the projectors and the rebuilds read events with.

// Envelope is the contract's event envelope with its data left as JSON. ParseEnvelope fills it
// without decoding the data, which is what makes replay fast.
type Envelope struct {
	ID            string
	Type          string
	AggregateType string
	AggregateID   string
	Version       int64
	OccurredAt    time.Time
	ActorID       string
	CommandID     string
	SchemaVersion int64
	Data          json.RawMessage // as in the record; nil when absent
	plain         bool            // Data is compact and no member name looks like a secret
	// idsGiven has bit i set when id i (id, aggregate_id, actor_id, command_id) was given as a
	// string, possibly "": DecodeEvent refuses "" as encoding/json does, but not an absent id.
	idsGiven uint8
	// ActingID is the delegate of a command sent on behalf of another (domain.Event's), valid
	// when actingGiven: absent from every other event, and written back only when given.
	ActingID    string
	actingGiven bool
}

// ParseEnvelope decodes an event record's value: a JSON object with at least occurred_at (RFC
// 3339). Unknown fields are ignored; the whole value is checked to be valid JSON.
func ParseEnvelope(b []byte) (Envelope, error) {
	var e Envelope
	s := jscan{b: b}
	s.ws()
	if !s.eat('{') {
		return e, s.errf("want an object")
	}
	haveTime := false
	// The ids, unescaped, become one string (one allocation) at the end.
	var ids [4][]byte
	s.ws()
	if s.eat('}') {
		return e, errors.New("empty object: no occurred_at")
	}
	for {
		s.ws()
		kstart := s.i
		key, kesc, err := s.str()
		if err != nil {
			return e, err
		}
		quotedKey := b[kstart:s.i]
		s.ws()
		if !s.eat(':') {
			return e, s.errf("want ':'")
		}
		s.ws()
		name := envelopeKey(key, quotedKey, kesc)
		if name != "" && name != "data" && s.lit("null") {
			name = "null" // a null member leaves the field as it is, as with encoding/json
		}
		switch name {
		case "null":
		case "id":
			ids[0], e.ID, err = s.idField()
			e.idsGiven |= 1 << 0
		case "aggregate_id":
			ids[1], e.AggregateID, err = s.idField()
			e.idsGiven |= 1 << 1
		case "actor_id":
			ids[2], e.ActorID, err = s.idField()
			e.idsGiven |= 1 << 2
		case "command_id":
			ids[3], e.CommandID, err = s.idField()
			e.idsGiven |= 1 << 3
		case "acting_id":
			var raw []byte
			if raw, e.ActingID, err = s.idField(); raw != nil {
				e.ActingID = string(raw)
			}
			e.actingGiven = true
		case "type":
			e.Type, err = s.internedField()
		case "aggregate_type":
			e.AggregateType, err = s.internedField()
		case "version":
			e.Version, err = s.intField()
		case "schema_version":
			e.SchemaVersion, err = s.intField()
		case "occurred_at":
			var raw []byte
			var esc bool
			if raw, esc, err = s.str(); err == nil {
				var ok bool
				if e.OccurredAt, ok = parseUTC(raw); !ok || esc {
					var ts string
					if ts, err = unquote(s.b[s.i-len(raw)-2 : s.i]); err == nil {
						e.OccurredAt, err = time.Parse(time.RFC3339Nano, ts)
					}
				}
				haveTime = err == nil
			}
		case "data":
			start := s.i
			s.track, s.dirty = true, false
			err = s.value(0)
			s.track = false
			if err == nil {
				e.Data = b[start:s.i:s.i]
				e.plain = !s.dirty
			}
		default:
			err = s.value(0)
		}
		if err != nil {
			return e, fmt.Errorf("%s: %w", key, err)
		}
		s.ws()
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			break
		}
		return e, s.errf("want ',' or '}'")
	}
	s.ws()
	if s.i != len(b) {
		return e, s.errf("data after the object")
	}
	var sb strings.Builder
	sb.Grow(len(ids[0]) + len(ids[1]) + len(ids[2]) + len(ids[3]))
	for _, id := range ids {
		sb.Write(id)
	}
	all, n := sb.String(), 0
	cut := func(i int, dst string) string {
		if ids[i] == nil {
			return dst
		}
		n += len(ids[i])
		return all[n-len(ids[i]) : n]
	}
	e.ID, e.AggregateID, e.ActorID, e.CommandID = cut(0, e.ID), cut(1, e.AggregateID), cut(2, e.ActorID), cut(3, e.CommandID)
	if !haveTime {
		return e, errors.New("no occurred_at")
	}
	return e, nil
}

// envelopeKeys are the envelope's member names, as the contract spells them.
var envelopeKeys = [...]string{"id", "aggregate_id", "actor_id", "command_id", "type", "aggregate_type", "version",
	"schema_version", "occurred_at", "data", "acting_id"}

// envelopeKey is the envelope member a key names, "" for none. It names one as encoding/json
// would, so that DecodeEvent reads what json.Unmarshal into a domain.Event reads: a key that
// is not spelled exactly as the contract's is unescaped and matched without regard to case
// (FuzzDecodeEvent: "ID" or "\u0069d" was read by encoding/json and ignored here). Chorus
// writes the exact names, so the slow path is for hand-made or hostile records only.
func envelopeKey(raw, quoted []byte, escaped bool) string {
	if !escaped {
		for _, k := range envelopeKeys {
			if string(raw) == k {
				return k
			}
		}
	}
	name := raw
	if escaped {
		v, err := unquote(quoted)
		if err != nil {
			return ""
		}
		name = []byte(v)
	}
	for _, k := range envelopeKeys {
		if bytes.EqualFold(name, []byte(k)) {
			return k
		}
	}
	return ""
}

var (
	internMu sync.RWMutex
	interned = map[string]string{} // event and aggregate type names: few
)

// intern returns the string of b, the same one for the same bytes (up to 4096 of them).
func intern(b []byte) string {
	internMu.RLock()
	v, ok := interned[string(b)] // no allocation for the lookup
	internMu.RUnlock()
	if ok {
		return v
	}
	v = string(b)
	internMu.Lock()
	if len(interned) < 4096 && len(v) <= 64 {
		interned[v] = v
	}
	internMu.Unlock()
	return v
}

// SecretField tells whether a field name looks like it holds a secret (it contains password,
// hash, token or secret, in any case): replay output never shows such fields.
func SecretField(name []byte) bool {
	for i := 0; i < len(name); i++ {
		var word string
		switch name[i] | 0x20 { // ASCII lower case (and harmless for other bytes)
		case 'p':
			word = "password"
		case 'h':
			word = "hash"
		case 't':
			word = "token"
		case 's':
			word = "secret"
		default:
			continue
		}
		if hasFoldAt(name, i, word) {
			return true
		}
	}
	return false
}

// hasFoldAt tells whether s has the lower-case ASCII word at i, in any case.
func hasFoldAt(s []byte, i int, word string) bool {
	if len(s)-i < len(word) {
		return false
	}
	for j := 0; j < len(word); j++ {
		c := s[i+j]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != word[j] {
			return false
		}
	}
	return true
}

// AppendJSON appends the envelope as one compact JSON object with the contract's fields in
// the contract's order and its data compact; with redact, without the data's object members (at
// any depth) whose name looks like a secret (SecretField). The same envelope always gives the
// same bytes.
func (e *Envelope) AppendJSON(dst []byte, redact bool) ([]byte, error) {
	dst = append(dst, `{"id":`...)
	dst = jsonw.String(dst, e.ID)
	dst = append(dst, `,"type":`...)
	dst = jsonw.String(dst, e.Type)
	dst = append(dst, `,"aggregate_type":`...)
	dst = jsonw.String(dst, e.AggregateType)
	dst = append(dst, `,"aggregate_id":`...)
	dst = jsonw.String(dst, e.AggregateID)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, e.Version, 10)
	dst = append(dst, `,"occurred_at":"`...)
	dst = e.OccurredAt.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","actor_id":`...)
	dst = jsonw.String(dst, e.ActorID)
	dst = append(dst, `,"command_id":`...)
	dst = jsonw.String(dst, e.CommandID)
	dst = append(dst, `,"schema_version":`...)
	dst = strconv.AppendInt(dst, e.SchemaVersion, 10)
	dst = append(dst, `,"data":`...)
	dst, err := e.AppendData(dst, redact)
	if err != nil {
		return dst, err
	}
	if e.actingGiven {
		dst = append(dst, `,"acting_id":`...)
		dst = jsonw.String(dst, e.ActingID)
	}
	return append(dst, '}'), nil
}

// AppendData appends the envelope's data as AppendJSON does ("null" when absent).
func (e *Envelope) AppendData(dst []byte, redact bool) ([]byte, error) {
	if len(e.Data) == 0 {
		return append(dst, "null"...), nil
	}
	if e.plain { // what json.Marshal writes: nothing to take out
		return append(dst, e.Data...), nil
	}
	var drop func([]byte) bool
	if redact {
		drop = SecretField
	}
	s := jscan{b: e.Data}
	return s.compact(dst, drop, 0)
}

// EachDataField calls fn for every object member in data, at any depth, with its name (as
// written, escapes included) and its value as JSON (a string value with its quotes).
func EachDataField(data []byte, fn func(name, value []byte)) error {
	if len(data) == 0 {
		return nil
	}
	s := jscan{b: data, visit: fn}
	if err := s.value(0); err != nil {
		return err
	}
	s.ws()
	if s.i != len(data) {
		return s.errf("data after the value")
	}
	return nil
}

// DataHas tells whether some member of data (at any depth) named one of names is the string
// value, compared ignoring ASCII case as ids are.
func DataHas(data []byte, value string, names ...string) bool {
	found := false
	_ = EachDataField(data, func(n, v []byte) {
		if found || len(v) != len(value)+2 || v[0] != '"' || !bytes.EqualFold(v[1:len(v)-1], []byte(value)) {
			return
		}
		for _, name := range names {
			if string(n) == name {
				found = true
			}
		}
	})
	return found
}
