package ops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/domain"
)

// ErrInvalidQuery: an event query that cannot be run (a bad bound, an empty range, an id that
// is not a UUID).
var ErrInvalidQuery = errors.New("invalid event query")

// DefaultEventTopics are the topics an event query reads unless told otherwise.
var DefaultEventTopics = kafka.DefaultTopics().EventTopics()

// EventQuery chooses events of the log, for Replay and Stats: a range of every partition of
// some topics (by event time or by offset), then filters on the events themselves.
type EventQuery struct {
	Topics   []string
	From, To ReplayBound
	// Types keeps events of these types only (none: every type).
	Types []string
	// Room keeps a room's own events and any event whose data names it as room_id.
	Room string
	// User keeps events with the user as actor, as the user aggregate, or named in the data
	// as user_id or sender_id.
	User string

	types map[string]bool
}

// EventQuerySpec is an event query as a user writes it (chorusctl's flags, the admin API's
// query parameters).
type EventQuerySpec struct {
	Topics     []string // empty: DefaultEventTopics
	From, To   string   // an RFC 3339 time, a date, or offset:N; "" for the start or end of the log
	Types      []string
	Room, User string // UUIDs, or ""
}

// NewEventQuery parses and checks s; its errors wrap ErrInvalidQuery and name the part at fault
// by the names given (for example "--from" or "from").
func NewEventQuery(s EventQuerySpec, names func(part string) string) (EventQuery, error) {
	if names == nil {
		names = func(p string) string { return p }
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidQuery, fmt.Sprintf(format, args...))
	}
	var q EventQuery
	var err error
	if q.From, err = ParseReplayBound(s.From); err != nil {
		return q, bad("%s %v", names("from"), err)
	}
	if q.To, err = ParseReplayBound(s.To); err != nil {
		return q, bad("%s %v", names("to"), err)
	}
	ft, fromTime := q.From.Time()
	tt, toTime := q.To.Time()
	if fromTime && toTime && !tt.After(ft) {
		return q, bad("%s (%s) must be after %s (%s)", names("to"), s.To, names("from"), s.From)
	}
	fo, fromOff := q.From.Offset()
	to, toOff := q.To.Offset()
	if fromOff && toOff && to <= fo {
		return q, bad("%s offset:%d must be above %s offset:%d", names("to"), to, names("from"), fo)
	}
	topics := s.Topics
	if topics == nil {
		topics = DefaultEventTopics
	}
	for _, t := range topics {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(q.Topics, t) {
			q.Topics = append(q.Topics, t)
		}
	}
	if len(q.Topics) == 0 {
		return q, bad("%s: name at least one topic", names("topic"))
	}
	for _, t := range s.Types {
		if t = strings.TrimSpace(t); t != "" {
			if q.types == nil {
				q.types = map[string]bool{}
			}
			q.types[t] = true
			q.Types = append(q.Types, t)
		}
	}
	for _, id := range []struct {
		dst *string
		src string
	}{{&q.Room, s.Room}, {&q.User, s.User}} {
		if id.src == "" {
			continue
		}
		u, err := uuid.Parse(strings.TrimSpace(id.src))
		if err != nil {
			return q, bad("%q is not a UUID", id.src)
		}
		*id.dst = u.String()
	}
	return q, nil
}

// Keep tells whether an event passes the type, room and user filters.
func (q *EventQuery) Keep(e *kafka.Envelope) bool {
	if q.types != nil && !q.types[e.Type] {
		return false
	}
	if q.Room != "" {
		if !(e.AggregateType == domain.AggregateRoom && strings.EqualFold(e.AggregateID, q.Room)) &&
			!kafka.DataHas(e.Data, q.Room, "room_id") {
			return false
		}
	}
	if q.User != "" {
		if !strings.EqualFold(e.ActorID, q.User) &&
			!(e.AggregateType == domain.AggregateUser && strings.EqualFold(e.AggregateID, q.User)) &&
			!kafka.DataHas(e.Data, q.User, "user_id", "sender_id") {
			return false
		}
	}
	return true
}

// inRange sets opts to the query's range (the filters are Keep's).
func (q *EventQuery) inRange(opts ReplayOptions) ReplayOptions {
	opts.Topics, opts.From, opts.To = q.Topics, q.From, q.To
	return opts
}

// Output formats of a replay.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// CSVHeader is the first line of a CSV replay.
const CSVHeader = "occurred_at,type,aggregate_type,aggregate_id,version,actor_id,command_id,topic,partition,offset,data\n"

// Renderer appends one event in an output format.
type Renderer func(dst []byte, rec *ReplayRecord) ([]byte, error)

// RendererOf is the renderer of a format (jsonl or csv), nil for any other.
func RendererOf(format string) Renderer {
	switch format {
	case FormatJSONL:
		return renderJSONL
	case FormatCSV:
		return renderCSV
	}
	return nil
}

// renderJSONL appends the event as the contract's envelope, secrets removed, and a newline.
func renderJSONL(dst []byte, rec *ReplayRecord) ([]byte, error) {
	dst, err := rec.Event.AppendJSON(dst, true)
	return append(dst, '\n'), err
}

// renderCSV appends the event as one CSV row (RFC 4180; the header is CSVHeader).
func renderCSV(dst []byte, rec *ReplayRecord) ([]byte, error) {
	ev := &rec.Event
	dst = ev.OccurredAt.AppendFormat(dst, time.RFC3339Nano)
	for _, s := range []string{ev.Type, ev.AggregateType, ev.AggregateID} {
		dst = append(dst, ',')
		dst = appendCSVField(dst, s)
	}
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, ev.Version, 10)
	for _, s := range []string{ev.ActorID, ev.CommandID, rec.Topic} {
		dst = append(dst, ',')
		dst = appendCSVField(dst, s)
	}
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, int64(rec.Partition), 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, rec.Offset, 10)
	dst = append(dst, ',', '"')
	start := len(dst)
	dst, err := ev.AppendData(dst, true)
	if err != nil {
		return dst, err
	}
	// Quote the data field: double its quotes, in place, from the back.
	if n := bytes.Count(dst[start:], []byte{'"'}); n > 0 {
		end := len(dst)
		dst = append(dst, make([]byte, n)...)
		j := len(dst) - 1
		for i := end - 1; i >= start; i-- {
			c := dst[i]
			dst[j] = c
			j--
			if c == '"' {
				dst[j] = '"'
				j--
			}
		}
	}
	return append(dst, '"', '\n'), nil
}

// appendCSVField appends s, quoted when it needs to be.
func appendCSVField(dst []byte, s string) []byte {
	if s == "" || !strings.ContainsAny(s, ",\"\r\n") && s[0] != ' ' && s[0] != '\t' {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// ReplayTo writes the query's events to w in format (jsonl or csv, with its header), in event
// time order, secrets removed: `chorusctl events replay` without its terminal niceties. opts
// carries what the caller adds (Follow, Progress, OnStart, OnCaughtUp, SkipBad); its range and
// Prepare are the query's.
func ReplayTo(ctx context.Context, cfg kafka.Config, q EventQuery, format string, opts ReplayOptions, w io.Writer) (ReplayStats, error) {
	render := RendererOf(format)
	if render == nil {
		return ReplayStats{}, fmt.Errorf("%w: format %q: want jsonl or csv", ErrInvalidQuery, format)
	}
	// The CSV header goes with the first event (or at the end, when there is none), so that a
	// replay that fails before any event (a topic that does not exist, say) has written nothing.
	header := format == FormatCSV
	writeHeader := func() error {
		if !header {
			return nil
		}
		header = false
		_, err := io.WriteString(w, CSVHeader)
		return err
	}
	opts = q.inRange(opts)
	if caughtUp := opts.OnCaughtUp; caughtUp != nil {
		// A followed replay is caught up: the header is due even without events.
		opts.OnCaughtUp = func() error {
			if err := writeHeader(); err != nil {
				return err
			}
			return caughtUp()
		}
	}
	opts.Prepare = func(rec *ReplayRecord, buf []byte) ([]byte, bool, error) {
		if !q.Keep(&rec.Event) {
			return buf, false, nil
		}
		buf, err := render(buf, rec)
		if err != nil {
			return buf, false, fmt.Errorf("event at %s/%d/%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
		}
		return buf, true, nil
	}
	st, err := Replay(ctx, cfg, opts, func(rec *ReplayRecord) error {
		if err := writeHeader(); err != nil {
			return err
		}
		_, err := w.Write(rec.Out)
		return err
	})
	if err == nil {
		err = writeHeader()
	}
	return st, err
}

// EventStats counts the events of a query by type and by day (UTC).
type EventStats struct {
	Topics []string         `json:"topics"`
	From   string           `json:"from,omitempty"`
	To     string           `json:"to,omitempty"`
	Events int64            `json:"events"`
	First  *time.Time       `json:"first_occurred_at"`
	Last   *time.Time       `json:"last_occurred_at"`
	ByType map[string]int64 `json:"by_type"`
	ByDay  map[string]int64 `json:"by_day"`
}

// Stats counts the query's events: `chorusctl events stats`. opts as for ReplayTo.
func Stats(ctx context.Context, cfg kafka.Config, q EventQuery, opts ReplayOptions) (EventStats, ReplayStats, error) {
	opts = q.inRange(opts)
	opts.Prepare = func(rec *ReplayRecord, buf []byte) ([]byte, bool, error) {
		return buf, q.Keep(&rec.Event), nil
	}
	byType := map[string]int64{}
	byDay := map[int64]int64{} // days since 1970-01-01, UTC
	var first, last time.Time
	var n int64
	st, err := Replay(ctx, cfg, opts, func(rec *ReplayRecord) error {
		t := rec.Event.OccurredAt
		if n == 0 || t.Before(first) {
			first = t
		}
		if n == 0 || t.After(last) {
			last = t
		}
		n++
		byType[rec.Event.Type]++
		byDay[floorDiv(t.Unix(), 86400)]++
		return nil
	})
	if err != nil {
		return EventStats{}, st, err
	}
	out := EventStats{Topics: q.Topics, From: q.From.String(), To: q.To.String(), Events: n, ByType: byType, ByDay: map[string]int64{}}
	for d, k := range byDay {
		out.ByDay[time.Unix(d*86400, 0).UTC().Format(time.DateOnly)] = k
	}
	if n > 0 {
		f, l := first.UTC(), last.UTC()
		out.First, out.Last = &f, &l
	}
	return out, st, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
