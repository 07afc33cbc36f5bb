package ops

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// FuzzNewEventQuery: the admin API's event query parameters (topic, from, to, type, room,
// user; chorusctl's flags alike) either make a query whose range is not empty and whose
// filters are clean (topics and types trimmed, unique and non-empty, ids in canonical form),
// or are refused with ErrInvalidQuery; every bound it keeps prints as text that parses back
// to the same bound.
func FuzzNewEventQuery(f *testing.F) {
	for _, s := range [][6]string{
		{"", "", "", "", "", ""},
		{"chat-events", "2026-01-01", "2026-01-02", "MessageSent", "6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60", ""},
		{"chat-events, user-events", "offset:5", "offset:9", " UserBanned ", "", "8D4E5F6A-7B8C-4D9E-A0F1-B2C3D4E5F6A7"},
		{"chat-events", "offset:9", "offset:9", "", "", ""},
		{"chat-events", "2026-01-02T00:00:00+01:00", "2026-01-01T23:00:00Z", "", "", ""},
		{"chat-events", "offset:-1", "", "", "", ""},
		{"chat-events", "offset:99999999999999999999", "", "", "", ""},
		{"chat-events", "2026-02-30", "", "", "", ""},
		{"chat-events", "0000-01-01T00:00:00+01:00", "9999-12-31T23:00:00-02:00", "", "", ""},
		{" , ", "", "", "", "", ""},
		{"chat-events", "", "", "", "{6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60}", "urn:uuid:6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60"},
		{"chat-events", "", "", "", "not-a-uuid", ""},
		{"t\x00", "\xff", "offset:1\x00", "\xfe", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5])
	}
	f.Fuzz(func(t *testing.T, topics, from, to, types, room, user string) {
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, ",")
		}
		spec := EventQuerySpec{Topics: split(topics), From: from, To: to, Types: split(types), Room: room, User: user}
		q, err := NewEventQuery(spec, nil)
		if err != nil {
			if !errors.Is(err, ErrInvalidQuery) {
				t.Fatalf("%+v: error %v does not wrap ErrInvalidQuery", spec, err)
			}
			return
		}
		if len(q.Topics) == 0 {
			t.Fatalf("%+v: a query without topics", spec)
		}
		seen := map[string]bool{}
		for _, tp := range q.Topics {
			if tp == "" || tp != strings.TrimSpace(tp) || seen[tp] {
				t.Fatalf("%+v: topics %q", spec, q.Topics)
			}
			seen[tp] = true
		}
		for _, ty := range q.Types {
			if ty == "" || ty != strings.TrimSpace(ty) {
				t.Fatalf("%+v: types %q", spec, q.Types)
			}
		}
		for _, id := range []string{q.Room, q.User} {
			if u, err := uuid.Parse(id); id != "" && (err != nil || u.String() != id) {
				t.Fatalf("%+v: id %q is not canonical", spec, id)
			}
		}
		if ft, ok := q.From.Time(); ok {
			if tt, ok := q.To.Time(); ok && !tt.After(ft) {
				t.Fatalf("%+v: empty time range %s..%s", spec, ft, tt)
			}
		}
		if fo, ok := q.From.Offset(); ok {
			if to, ok := q.To.Offset(); ok && to <= fo {
				t.Fatalf("%+v: empty offset range %d..%d", spec, fo, to)
			}
		}
		for _, b := range []ReplayBound{q.From, q.To} {
			again, err := ParseReplayBound(b.String())
			if err != nil {
				t.Fatalf("%+v: bound %q does not parse back: %v", spec, b.String(), err)
			}
			bt, _ := b.Time()
			at, _ := again.Time()
			bo, _ := b.Offset()
			ao, _ := again.Offset()
			if again.IsZero() != b.IsZero() || !at.Equal(bt) || ao != bo {
				t.Fatalf("%+v: bound %q parses back as %q", spec, b.String(), again.String())
			}
			if o, ok := b.Offset(); ok && o < 0 {
				t.Fatalf("%+v: negative offset bound %d", spec, o)
			}
		}
	})
}
