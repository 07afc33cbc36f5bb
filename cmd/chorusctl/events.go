package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/domain"
)

// rangeFlags choose the events of replay and stats.
type rangeFlags struct {
	Topic []string `name:"topic" sep:"," default:"chat-events,user-events,system-events" placeholder:"TOPIC" help:"Event topic to read, every partition (repeatable or comma-separated)."`
	From  string   `name:"from" placeholder:"TIME|offset:N" help:"Start: an RFC 3339 time or a date (events that occurred at or after it), or offset:N (offsets >= N in every partition)."`
	To    string   `name:"to" placeholder:"TIME|offset:N" help:"End, exclusive: an RFC 3339 time or a date (events that occurred before it), or offset:N (offsets < N in every partition)."`
	Type  []string `name:"type" sep:"," placeholder:"TYPE" help:"Only events of this type, e.g. MessageSent (repeatable or comma-separated)."`
	Room  string   `name:"room" placeholder:"ROOM_ID" help:"Only events of this room: its own events and any event whose data names it as room_id."`
	User  string   `name:"user" placeholder:"USER_ID" help:"Only events of this user: as actor, as the user aggregate, or named in the data as user_id or sender_id."`
	Bad   bool     `name:"skip-bad" help:"Skip (with a warning) records that are not valid event envelopes instead of failing."`

	from, to kafka.ReplayBound
	types    map[string]bool
}

// validate parses the flags; its errors are usage errors.
func (f *rangeFlags) validate() error {
	var err error
	if f.from, err = kafka.ParseReplayBound(f.From); err != nil {
		return usagef("--from %v", err)
	}
	if f.to, err = kafka.ParseReplayBound(f.To); err != nil {
		return usagef("--to %v", err)
	}
	ft, fromTime := f.from.Time()
	tt, toTime := f.to.Time()
	if fromTime && toTime && !tt.After(ft) {
		return usagef("--to (%s) must be after --from (%s)", f.To, f.From)
	}
	fo, fromOff := f.from.Offset()
	to, toOff := f.to.Offset()
	if fromOff && toOff && to <= fo {
		return usagef("--to offset:%d must be above --from offset:%d", to, fo)
	}
	var topics []string
	for _, t := range f.Topic {
		if t = strings.TrimSpace(t); t != "" && !contains(topics, t) {
			topics = append(topics, t)
		}
	}
	if len(topics) == 0 {
		return usagef("--topic: name at least one topic")
	}
	f.Topic = topics
	for _, t := range f.Type {
		if t = strings.TrimSpace(t); t != "" {
			if f.types == nil {
				f.types = map[string]bool{}
			}
			f.types[t] = true
		}
	}
	for _, id := range []*string{&f.Room, &f.User} {
		if *id == "" {
			continue
		}
		u, err := uuid.Parse(strings.TrimSpace(*id))
		if err != nil {
			return usagef("%q is not a UUID", *id)
		}
		*id = u.String()
	}
	return nil
}

// keep tells whether an event passes the type, room and user filters.
func (f *rangeFlags) keep(e *kafka.Envelope) bool {
	if f.types != nil && !f.types[e.Type] {
		return false
	}
	if f.Room != "" {
		if !(e.AggregateType == domain.AggregateRoom && strings.EqualFold(e.AggregateID, f.Room)) &&
			!kafka.DataHas(e.Data, f.Room, "room_id") {
			return false
		}
	}
	if f.User != "" {
		if !strings.EqualFold(e.ActorID, f.User) &&
			!(e.AggregateType == domain.AggregateUser && strings.EqualFold(e.AggregateID, f.User)) &&
			!kafka.DataHas(e.Data, f.User, "user_id", "sender_id") {
			return false
		}
	}
	return true
}

// options are the replay options of the flags.
func (f *rangeFlags) options(e *env) kafka.ReplayOptions {
	o := kafka.ReplayOptions{Topics: f.Topic, From: f.from, To: f.to}
	if f.Bad {
		var warned atomic.Int64
		o.SkipBad = func(_ kafka.Record, err error) {
			if warned.Add(1) <= 10 {
				fmt.Fprintf(e.stderr, "chorusctl: warning: skipped %s\n", oneLine(err))
			}
		}
	}
	return o
}

type replayCmd struct {
	rangeFlags `embed:""`
	Format     string `name:"format" short:"f" enum:"jsonl,csv" default:"jsonl" help:"Output format: jsonl (one event envelope per line) or csv."`
	Output     string `name:"output" short:"o" placeholder:"FILE" help:"Write to FILE instead of standard output."`
	Follow     bool   `name:"follow" help:"After the end, keep printing new events as they are committed, until interrupted (ctrl-C)."`
	NoProgress bool   `name:"no-progress" help:"No progress bar (it is only shown when standard error is a terminal)."`
}

func (c *replayCmd) Validate() error {
	if err := c.rangeFlags.validate(); err != nil {
		return err
	}
	if c.Follow && c.To != "" {
		return usagef("--follow and --to exclude each other")
	}
	return nil
}

// csvHeader is the first line of the CSV output.
const csvHeader = "occurred_at,type,aggregate_type,aggregate_id,version,actor_id,command_id,topic,partition,offset,data\n"

func (c *replayCmd) Run(e *env) (err error) {
	var out io.Writer = e.stdout
	if c.Output != "" && c.Output != "-" {
		f, oerr := openOutput(c.Output)
		if oerr != nil {
			return oerr
		}
		defer func() { // err: Run's result
			if cerr := f.close(err == nil); cerr != nil && err == nil {
				err = cerr
			}
		}()
		out = f
	}
	w := bufio.NewWriterSize(out, 1<<20)
	if c.Format == "csv" {
		if _, err := w.WriteString(csvHeader); err != nil {
			return err
		}
	}
	opts := c.options(e)
	opts.Follow = c.Follow
	render := renderJSONL
	if c.Format == "csv" {
		render = renderCSV
	}
	opts.Prepare = func(rec *kafka.ReplayRecord, buf []byte) ([]byte, bool, error) {
		if !c.keep(&rec.Event) {
			return buf, false, nil
		}
		buf, err := render(buf, rec)
		if err != nil {
			return buf, false, fmt.Errorf("event at %s/%d/%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
		}
		return buf, true, nil
	}
	bar := newProgress(e, !c.NoProgress, "replay")
	opts.Progress = bar.counter()
	opts.OnStart = bar.start
	opts.OnCaughtUp = func() error {
		bar.finish()
		return w.Flush()
	}
	start := time.Now()
	st, err := kafka.Replay(e.ctx, e.kafkaConfig(), opts, func(rec *kafka.ReplayRecord) error {
		_, err := w.Write(rec.Out)
		return err
	})
	bar.finish()
	ferr := w.Flush()
	if err == nil {
		err = ferr
	}
	if err != nil {
		if errors.Is(err, context.Canceled) && e.ctx.Err() != nil {
			return fmt.Errorf("interrupted after %d events: the output is incomplete", st.Delivered)
		}
		return err
	}
	reportReplay(e, bar.shown(), st, time.Since(start))
	return nil
}

// reportReplay warns about what the caller should know and, next to a progress bar, sums up.
func reportReplay(e *env, summary bool, st kafka.ReplayStats, took time.Duration) {
	if st.Skipped > 0 {
		fmt.Fprintf(e.stderr, "chorusctl: warning: skipped %d records that are not valid envelopes\n", st.Skipped)
	}
	if st.OutOfOrder > 0 {
		fmt.Fprintf(e.stderr, "chorusctl: warning: %d events came out after a later one (their partition's event times step back)\n", st.OutOfOrder)
	}
	if summary {
		rate := float64(st.Read) / max(took.Seconds(), 1e-9)
		fmt.Fprintf(e.stderr, "%d events written, %d read in %s (%.0f events/s)\n", st.Delivered, st.Read, took.Round(time.Millisecond), rate)
	}
}

// renderJSONL appends the event as the contract's envelope, secrets removed, and a newline.
func renderJSONL(dst []byte, rec *kafka.ReplayRecord) ([]byte, error) {
	dst, err := rec.Event.AppendJSON(dst, true)
	return append(dst, '\n'), err
}

// renderCSV appends the event as one CSV row (RFC 4180; the header is csvHeader).
func renderCSV(dst []byte, rec *kafka.ReplayRecord) ([]byte, error) {
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

// outputFile is -o FILE: opened at once (a bad path fails before any reading), but emptied
// only when the first bytes come, so a replay that fails before writing anything leaves an
// existing file as it was (and a file it created, removed).
type outputFile struct {
	f       *os.File
	path    string
	created bool
	written bool
}

func openOutput(path string) (*outputFile, error) {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	return &outputFile{f: f, path: path, created: os.IsNotExist(statErr)}, nil
}

func (o *outputFile) Write(p []byte) (int, error) {
	if !o.written {
		if err := o.f.Truncate(0); err != nil {
			return 0, err
		}
		o.written = true
	}
	return o.f.Write(p)
}

// close ends the file: a successful replay that wrote nothing leaves it empty.
func (o *outputFile) close(ok bool) error {
	if !o.written {
		if ok {
			if err := o.f.Truncate(0); err != nil {
				_ = o.f.Close()
				return err
			}
		} else if o.created {
			_ = o.f.Close()
			return os.Remove(o.path)
		}
	}
	return o.f.Close()
}
