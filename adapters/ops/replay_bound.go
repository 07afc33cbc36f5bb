package ops

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ReplayBound is one end of a replay range: none (the log's start or end), an event time
// (occurred_at; From is inclusive, To exclusive) or an offset applied to every partition
// (From: offsets >= N, To: offsets < N).
type ReplayBound struct {
	kind   int // 0 none, 1 time, 2 offset
	time   time.Time
	offset int64
}

// TimeBound bounds a replay by event time.
func TimeBound(t time.Time) ReplayBound { return ReplayBound{kind: 1, time: t} }

// OffsetBound bounds a replay by per-partition offset.
func OffsetBound(off int64) ReplayBound { return ReplayBound{kind: 2, offset: off} }

// IsZero tells whether the bound is unset.
func (b ReplayBound) IsZero() bool { return b.kind == 0 }

// Time returns the bound's time, if it is a time bound.
func (b ReplayBound) Time() (time.Time, bool) { return b.time, b.kind == 1 }

// Offset returns the bound's offset, if it is an offset bound.
func (b ReplayBound) Offset() (int64, bool) { return b.offset, b.kind == 2 }

// String renders the bound as ParseReplayBound reads it.
func (b ReplayBound) String() string {
	switch b.kind {
	case 1:
		return b.time.UTC().Format(time.RFC3339Nano)
	case 2:
		return "offset:" + strconv.FormatInt(b.offset, 10)
	}
	return ""
}

// ParseReplayBound reads "" (no bound), an RFC 3339 time, a date (YYYY-MM-DD, midnight UTC)
// or "offset:N".
func ParseReplayBound(s string) (ReplayBound, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return ReplayBound{}, nil
	}
	if rest, ok := strings.CutPrefix(s, "offset:"); ok {
		n, err := strconv.ParseInt(rest, 10, 64)
		if err != nil || n < 0 {
			return ReplayBound{}, fmt.Errorf("%q: offset:N needs a non-negative integer N", s)
		}
		return OffsetBound(n), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		// A bound prints in UTC (String); a zone may push it out of RFC 3339's years, and the
		// printed bound (chorusctl, event stats) would then not read back.
		if y := t.UTC().Year(); y < 0 || y > 9999 {
			return ReplayBound{}, fmt.Errorf("%q is outside the years 0000 to 9999 in UTC", s)
		}
		return TimeBound(t), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return TimeBound(t), nil
	}
	return ReplayBound{}, fmt.Errorf("%q is neither an RFC 3339 time (2006-01-02T15:04:05Z), a date (2006-01-02) nor offset:N", s)
}
