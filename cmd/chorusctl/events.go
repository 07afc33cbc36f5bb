package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops"
)

// rangeFlags choose the events of replay and stats.
type rangeFlags struct {
	Topic []string `name:"topic" sep:"," placeholder:"TOPIC" help:"Event topic to read, every partition (repeatable or comma-separated; default: every event topic, chat-events,user-events,system-events,org-events)."`
	From  string   `name:"from" placeholder:"TIME|offset:N" help:"Start: an RFC 3339 time or a date (events that occurred at or after it), or offset:N (offsets >= N in every partition)."`
	To    string   `name:"to" placeholder:"TIME|offset:N" help:"End, exclusive: an RFC 3339 time or a date (events that occurred before it), or offset:N (offsets < N in every partition)."`
	Type  []string `name:"type" sep:"," placeholder:"TYPE" help:"Only events of this type, e.g. MessageSent (repeatable or comma-separated)."`
	Room  string   `name:"room" placeholder:"ROOM_ID" help:"Only events of this room: its own events and any event whose data names it as room_id."`
	User  string   `name:"user" placeholder:"USER_ID" help:"Only events of this user: as actor, as the user aggregate, or named in the data as user_id or sender_id."`
	Bad   bool     `name:"skip-bad" help:"Skip (with a warning) records that are not valid event envelopes instead of failing."`

	q ops.EventQuery
}

// validate parses the flags; its errors are usage errors.
func (f *rangeFlags) validate() error {
	q, err := ops.NewEventQuery(ops.EventQuerySpec{Topics: f.Topic, From: f.From, To: f.To, Types: f.Type, Room: f.Room, User: f.User},
		func(part string) string { return "--" + part })
	if err != nil {
		return usagef("%s", strings.TrimPrefix(err.Error(), ops.ErrInvalidQuery.Error()+": "))
	}
	f.q = q
	return nil
}

// options are the replay options of the flags beyond the query's.
func (f *rangeFlags) options(e *env) ops.ReplayOptions {
	var o ops.ReplayOptions
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

func (c *replayCmd) Run(e *env) (err error) {
	out := e.stdout
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
	opts := c.options(e)
	opts.Follow = c.Follow
	bar := newProgress(e, !c.NoProgress, "replay")
	opts.Progress = bar.counter()
	opts.OnStart = bar.start
	opts.OnCaughtUp = func() error {
		bar.finish()
		return w.Flush()
	}
	start := time.Now()
	st, err := ops.ReplayTo(e.ctx, e.kafkaConfig(), c.q, c.Format, opts, w)
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
func reportReplay(e *env, summary bool, st ops.ReplayStats, took time.Duration) {
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
