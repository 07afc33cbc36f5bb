package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/domain"
)

var envelopeKeys = []string{"id", "type", "aggregate_type", "aggregate_id", "version", "occurred_at", "actor_id", "command_id", "schema_version", "data"}

// line is one decoded JSONL line, with the CSV row's position when known.
type line struct {
	raw string
	ev  domain.Event
	m   map[string]json.RawMessage
}

func parseJSONL(t *testing.T, out string) []line {
	t.Helper()
	var ls []line
	for _, raw := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if raw == "" {
			continue
		}
		l := line{raw: raw}
		if err := json.Unmarshal([]byte(raw), &l.ev); err != nil {
			t.Fatalf("line is not an event: %v: %s", err, raw)
		}
		if err := json.Unmarshal([]byte(raw), &l.m); err != nil {
			t.Fatal(err)
		}
		// Exactly the contract's fields, in the contract's order.
		dec := json.NewDecoder(strings.NewReader(raw))
		_, _ = dec.Token()
		for i := 0; dec.More(); i++ {
			k, _ := dec.Token()
			if i >= len(envelopeKeys) || k != envelopeKeys[i] {
				t.Fatalf("field %d is %v, want the envelope's fields in order: %s", i, k, raw)
			}
			var skip json.RawMessage
			_ = dec.Decode(&skip)
		}
		ls = append(ls, l)
	}
	return ls
}

// scenario: two users, a public room with both, a private room with a password; messages.
type scenario struct {
	sys             *system
	alice, bob      uuid.UUID
	public, private uuid.UUID
	hash            string
	total, messages int
	publicN, bobN   int
}

func newScenario(t *testing.T) *scenario {
	s := &scenario{sys: startSystem(t), alice: domain.UserIDFor("alice"), bob: domain.UserIDFor("bob"), public: uuid.New(), private: uuid.New(),
		hash: "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"}
	sys := s.sys
	sys.do(s.alice, s.alice, "alice", domain.RegisterUser{Username: "alice", DisplayName: "Alice"})
	sys.do(s.bob, s.bob, "bob", domain.RegisterUser{Username: "bob", DisplayName: "Bob"})
	sys.do(s.public, s.alice, "alice", domain.CreateRoom{Name: "general"})
	sys.do(s.private, s.alice, "alice", domain.CreateRoom{Name: "secret", IsPrivate: true, PasswordHash: s.hash})
	sys.do(s.public, s.bob, "bob", domain.JoinRoom{})
	for i := 0; i < 3; i++ {
		sys.do(s.public, s.alice, "alice", domain.SendMessage{Content: fmt.Sprint("hello ", i)})
	}
	for i := 0; i < 2; i++ {
		sys.do(s.public, s.bob, "bob", domain.SendMessage{Content: fmt.Sprint("hi ", i)})
	}
	for i := 0; i < 2; i++ {
		sys.do(s.private, s.alice, "alice", domain.SendMessage{Content: fmt.Sprint("psst ", i)})
	}
	s.total, s.messages = 2+2*2+1+7, 7
	s.publicN = 2 + 1 + 5 // created, alice joined, bob joined, 5 messages
	s.bobN = 1 + 1 + 2    // registered, joined, 2 messages
	return s
}

func TestEventsReplay(t *testing.T) {
	s := newScenario(t)
	cfg := s.sys.cfg
	out := mustCtl(t, cfg, "events", "replay")
	all := parseJSONL(t, out)
	if len(all) != s.total {
		t.Fatalf("%d events, want %d:\n%s", len(all), s.total, out)
	}
	for i, l := range all {
		if i > 0 && l.ev.OccurredAt.Before(all[i-1].ev.OccurredAt) {
			t.Fatalf("line %d occurred before line %d", i, i-1)
		}
	}

	t.Run("reproducible and without secrets", func(t *testing.T) {
		if again := mustCtl(t, cfg, "events", "replay"); again != out {
			t.Fatal("two replays of the same range differ")
		}
		file := filepath.Join(t.TempDir(), "events.jsonl")
		mustCtl(t, cfg, "events", "replay", "-o", file)
		if b, err := os.ReadFile(file); err != nil || string(b) != out {
			t.Fatalf("-o wrote something else (%v)", err)
		}
		csvOut := mustCtl(t, cfg, "events", "replay", "--format", "csv")
		for _, o := range []string{out, csvOut} {
			for _, bad := range []string{s.hash, "password", "hash", "token"} {
				if strings.Contains(strings.ToLower(o), strings.ToLower(bad)) {
					t.Fatalf("output shows %q", bad)
				}
			}
		}
		var created int
		for _, l := range all {
			if l.ev.Type == domain.TypeRoomCreated && l.ev.AggregateID == s.private {
				created++
				if d := l.ev.Data.(domain.RoomCreated); !d.IsPrivate || d.Name != "secret" {
					t.Fatalf("private room event: %+v", d)
				}
			}
		}
		if created != 1 {
			t.Fatal("the private room's creation is missing")
		}
	})

	t.Run("filters", func(t *testing.T) {
		count := func(args ...string) []line {
			t.Helper()
			return parseJSONL(t, mustCtl(t, cfg, append([]string{"events", "replay"}, args...)...))
		}
		if n := len(count("--type", "MessageSent")); n != s.messages {
			t.Fatalf("--type MessageSent: %d", n)
		}
		if n := len(count("--type", "RoomCreated,UserJoinedRoom")); n != 5 {
			t.Fatalf("--type RoomCreated,UserJoinedRoom: %d", n)
		}
		if n := len(count("--type", "MessageSent", "--type", "UserRegistered")); n != s.messages+2 {
			t.Fatalf("repeated --type: %d", n)
		}
		room := count("--room", s.public.String())
		if len(room) != s.publicN {
			t.Fatalf("--room: %d events, want %d", len(room), s.publicN)
		}
		for _, l := range room {
			if l.ev.AggregateID != s.public {
				t.Fatalf("--room gave an event of %s", l.ev.AggregateID)
			}
		}
		user := count("--user", strings.ToUpper(s.bob.String()))
		if len(user) != s.bobN {
			t.Fatalf("--user: %d events, want %d", len(user), s.bobN)
		}
		if n := len(count("--user", s.bob.String(), "--type", "MessageSent", "--room", s.public.String())); n != 2 {
			t.Fatalf("combined filters: %d", n)
		}
		if n := len(count("--room", s.private.String(), "--topic", "user-events")); n != 0 {
			t.Fatalf("--topic user-events --room: %d", n)
		}
		if n := len(count("--topic", "user-events", "--topic", "user-events,user-events")); n != 2 {
			t.Fatalf("--topic user-events: %d", n)
		}
		// Times: [from, to) by occurred_at.
		from, to := all[3].ev.OccurredAt, all[9].ev.OccurredAt
		want := 0
		for _, l := range all {
			if !l.ev.OccurredAt.Before(from) && l.ev.OccurredAt.Before(to) {
				want++
			}
		}
		got := count("--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano))
		if len(got) != want || want == 0 {
			t.Fatalf("--from/--to times: %d events, want %d", len(got), want)
		}
		for _, l := range got {
			if l.ev.OccurredAt.Before(from) || !l.ev.OccurredAt.Before(to) {
				t.Fatalf("event at %s outside [%s, %s)", l.ev.OccurredAt, from, to)
			}
		}
		if n := len(count("--from", to.Add(time.Hour).Format(time.RFC3339))); n != 0 {
			t.Fatalf("--from later than everything: %d", n)
		}
	})

	t.Run("csv", func(t *testing.T) {
		csvOut := mustCtl(t, cfg, "events", "replay", "--format", "csv")
		rows, err := csv.NewReader(strings.NewReader(csvOut)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(rows[0], ",") != "occurred_at,type,aggregate_type,aggregate_id,version,actor_id,command_id,topic,partition,offset,data" {
			t.Fatalf("header %v", rows[0])
		}
		rows = rows[1:]
		if len(rows) != s.total {
			t.Fatalf("%d rows, want %d", len(rows), s.total)
		}
		for i, r := range rows {
			ev := all[i].ev
			if r[0] != ev.OccurredAt.Format(time.RFC3339Nano) || r[1] != ev.Type || r[3] != ev.AggregateID.String() || r[4] != strconv.FormatInt(ev.Version, 10) ||
				r[5] != ev.ActorID.String() || r[6] != ev.CommandID.String() {
				t.Fatalf("row %d %v does not match %s", i, r, all[i].raw)
			}
			if string(all[i].m["data"]) != r[10] {
				t.Fatalf("row %d data %s, want %s", i, r[10], all[i].m["data"])
			}
		}

		// Offsets, per partition: [1, 3). Check against the positions the CSV shows.
		want := 0
		for _, r := range rows {
			if off, _ := strconv.Atoi(r[9]); off >= 1 && off < 3 {
				want++
			}
		}
		rows2, err := csv.NewReader(strings.NewReader(mustCtl(t, cfg, "events", "replay", "--format", "csv", "--from", "offset:1", "--to", "offset:3"))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows2)-1 != want || want == 0 {
			t.Fatalf("offset range: %d rows, want %d", len(rows2)-1, want)
		}
	})

	t.Run("stats", func(t *testing.T) {
		var st ops.EventStats
		if err := json.Unmarshal([]byte(mustCtl(t, cfg, "events", "stats", "--format", "json")), &st); err != nil {
			t.Fatal(err)
		}
		byType, byDay := map[string]int64{}, map[string]int64{}
		for _, l := range all {
			byType[l.ev.Type]++
			byDay[l.ev.OccurredAt.UTC().Format(time.DateOnly)]++
		}
		if st.Events != int64(s.total) || fmt.Sprint(st.ByType) != fmt.Sprint(byType) || fmt.Sprint(st.ByDay) != fmt.Sprint(byDay) ||
			!st.First.Equal(all[0].ev.OccurredAt) || !st.Last.Equal(all[len(all)-1].ev.OccurredAt) {
			t.Fatalf("stats %+v, want %v %v", st, byType, byDay)
		}
		table := mustCtl(t, cfg, "events", "stats", "--type", "MessageSent")
		if !hasRow(table, "MessageSent", "7", "100.0%") || !hasRow(table, "events", "7") || !hasRow(table, "TYPE", "EVENTS", "SHARE") {
			t.Fatalf("stats table:\n%s", table)
		}
	})

	t.Run("follow", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var stdout, stderr syncBuffer
		code := make(chan int, 1)
		go func() {
			code <- runContext(ctx, []string{"--brokers", cfg.Brokers[0], "events", "replay", "--follow", "--type", "MessageSent"}, &stdout, &stderr)
		}()
		waitLines := func(n int) {
			t.Helper()
			deadline := time.Now().Add(15 * time.Second)
			for strings.Count(stdout.String(), "\n") < n {
				if time.Now().After(deadline) {
					t.Fatalf("followed %d lines, want %d (stderr %s)", strings.Count(stdout.String(), "\n"), n, stderr.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		waitLines(s.messages)
		s.sys.do(s.public, s.bob, "bob", domain.SendMessage{Content: "late"})
		waitLines(s.messages + 1)
		cancel()
		select {
		case c := <-code:
			if c != 0 {
				t.Fatalf("ctrl-C during --follow: exit %d: %s", c, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("--follow did not stop")
		}
		ls := parseJSONL(t, stdout.String())
		if len(ls) != s.messages+1 || ls[len(ls)-1].ev.Data.(domain.MessageSent).Message.Content != "late" {
			t.Fatalf("followed %d events", len(ls))
		}
	})
}

// Stats by day, and replay order across partitions, on events with chosen times.
func TestEventsStatsByDay(t *testing.T) {
	cfg := startBroker(t, 3)
	l := newEventLog(t, cfg)
	day1 := time.Date(2026, 1, 1, 23, 59, 59, 999999000, time.UTC)
	day2 := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	r1, r2 := roomOn(0, 3), roomOn(1, 3)
	l.write(messageEvent(r1, 1, day1.Add(-time.Hour), "a"), messageEvent(r2, 1, day1, "b"))
	l.write(messageEvent(r1, 2, day2, "c"), messageEvent(r2, 2, day2.Add(time.Hour), "d"), messageEvent(r2, 3, day2.Add(2*time.Hour), "e"))
	l.write(roomEvent(r1, 3, day2.Add(24*time.Hour), domain.UserLeftRoom{RoomID: r1, UserID: uuid.New(), Username: "x", LeftAt: day2}))
	var st ops.EventStats
	if err := json.Unmarshal([]byte(mustCtl(t, cfg, "events", "stats", "-f", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Events != 6 || fmt.Sprint(st.ByDay) != "map[2026-01-01:2 2026-01-02:3 2026-01-03:1]" || fmt.Sprint(st.ByType) != "map[MessageSent:5 UserLeftRoom:1]" {
		t.Fatalf("stats %+v", st)
	}
	st = ops.EventStats{}
	if err := json.Unmarshal([]byte(mustCtl(t, cfg, "events", "stats", "-f", "json", "--from", "2026-01-02", "--to", "2026-01-03")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Events != 3 || fmt.Sprint(st.ByDay) != "map[2026-01-02:3]" {
		t.Fatalf("stats of one day %+v", st)
	}
	table := mustCtl(t, cfg, "events", "stats")
	for _, want := range [][]string{{"events", "6"}, {"MessageSent", "5", "83.3%"}, {"UserLeftRoom", "1", "16.7%"}, {"2026-01-01", "2", "33.3%"}, {"2026-01-03", "1", "16.7%"}} {
		if !hasRow(table, want...) {
			t.Fatalf("stats table lacks %q:\n%s", want, table)
		}
	}
	var contents []string
	for _, l := range parseJSONL(t, mustCtl(t, cfg, "events", "replay", "--type", "MessageSent")) {
		contents = append(contents, l.ev.Data.(domain.MessageSent).Message.Content)
	}
	if strings.Join(contents, "") != "abcde" {
		t.Fatalf("order across partitions: %v", contents)
	}
	if !sort.StringsAreSorted(contents) {
		t.Fatal("unsorted")
	}
}

func TestUsageAndFailures(t *testing.T) {
	cfg := startBroker(t, 1)
	for _, args := range [][]string{
		{"events", "replay", "--format", "xml"},
		{"events", "replay", "--from", "yesterday"},
		{"events", "replay", "--to", "offset:-3"},
		{"events", "replay", "--room", "not-a-uuid"},
		{"events", "replay", "--follow", "--to", "2026-01-01"},
		{"events", "replay", "--from", "2026-01-02", "--to", "2026-01-01"},
		{"events", "stats", "--format", "csv"},
		{"events", "frobnicate"},
		{"projections", "status", "--live-within", "-1s"},
		{},
	} {
		_, errs, code := ctl(t, cfg, args...)
		if code != 2 || !strings.HasPrefix(errs, "chorusctl: ") {
			t.Errorf("chorusctl %v: exit %d, stderr %q; want 2 and a message", args, code, errs)
		}
	}
	for _, args := range [][]string{{"--help"}, {"events", "--help"}, {"events", "replay", "--help"}, {"events", "stats", "--help"}, {"projections", "status", "--help"}} {
		out, _, code := ctl(t, cfg, args...)
		if code != 0 || !strings.Contains(out, "Usage: chorusctl") {
			t.Errorf("chorusctl %v: exit %d, %q", args, code, out)
		}
	}
	// Failures: exit 1 and one line saying what failed.
	var out, errb strings.Builder
	if code := run([]string{"--brokers", "127.0.0.1:1", "events", "replay"}, &out, &errb); code != 1 ||
		!strings.HasPrefix(errb.String(), "chorusctl: cannot reach Kafka at 127.0.0.1:1: ") || strings.Count(errb.String(), "\n") != 1 {
		t.Fatalf("unreachable Kafka: exit %d, %q", code, errb.String())
	}
	_, errs, code := ctl(t, cfg, "events", "replay", "--topic", "nope")
	if code != 1 || errs != "chorusctl: topic nope does not exist\n" {
		t.Fatalf("missing topic: exit %d, %q", code, errs)
	}
	_, errs, code = ctl(t, cfg, "events", "replay", "-o", filepath.Join(t.TempDir(), "no", "such", "dir", "x"))
	if code != 1 || !strings.Contains(errs, "no such file or directory") {
		t.Fatalf("bad output file: exit %d, %q", code, errs)
	}
	_, errs, code = ctl(t, cfg, "--database-url", "postgres://postgres@127.0.0.1:1/x?sslmode=disable", "projections", "status")
	if code != 1 || !strings.HasPrefix(errs, "chorusctl: cannot reach Postgres at 127.0.0.1:1/x: ") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("unreachable Postgres: exit %d, %q", code, errs)
	}
	// -o: a replay that fails before writing leaves the file as it was, or absent.
	keep := filepath.Join(t.TempDir(), "keep.jsonl")
	if err := os.WriteFile(keep, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, code := ctl(t, cfg, "events", "replay", "--topic", "nope", "-o", keep); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if b, _ := os.ReadFile(keep); string(b) != "old\n" {
		t.Fatalf("a failed replay changed the output file: %q", b)
	}
	fresh := filepath.Join(t.TempDir(), "fresh.jsonl")
	if _, _, code := ctl(t, cfg, "events", "replay", "--topic", "nope", "-o", fresh); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Fatalf("a failed replay left %s: %v", fresh, err)
	}
	mustCtl(t, cfg, "events", "replay", "-o", keep)
	if b, _ := os.ReadFile(keep); len(b) != 0 {
		t.Fatalf("an empty replay kept the old content: %q", b)
	}

	// Interrupted: a bounded replay fails (its output is incomplete), a followed one just ends.
	l := newEventLog(t, cfg)
	l.write(messageEvent(roomOn(0, 1), 1, time.Now(), "x"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var so, se strings.Builder
	if code := runContext(ctx, []string{"--brokers", cfg.Brokers[0], "events", "replay"}, &so, &se); code != 1 || !strings.Contains(se.String(), "interrupted after") {
		t.Fatalf("interrupted replay: exit %d, %q", code, se.String())
	}
	se.Reset()
	if code := runContext(ctx, []string{"--brokers", cfg.Brokers[0], "events", "replay", "--follow"}, &so, &se); code != 0 {
		t.Fatalf("interrupted follow: exit %d, %q", code, se.String())
	}

	// The environment names the brokers as for the server.
	t.Setenv("CHORUS_KAFKA_BROKERS", cfg.Brokers[0])
	var envOut, envErr strings.Builder
	if code := run([]string{"events", "stats", "-f", "json"}, &envOut, &envErr); code != 0 || !strings.Contains(envOut.String(), `"events": 1`) {
		t.Fatalf("CHORUS_KAFKA_BROKERS: exit %d: %s %s", code, envOut.String(), envErr.String())
	}

	// Empty topics: empty output, CSV still has its header.
	if out := mustCtl(t, cfg, "events", "replay", "--topic", "user-events"); out != "" {
		t.Fatalf("empty log: %q", out)
	}
	if out := mustCtl(t, cfg, "events", "replay", "-f", "csv", "--topic", "user-events"); out != ops.CSVHeader {
		t.Fatalf("empty log csv: %q", out)
	}
}

// hasRow tells whether a line of a table has exactly these fields.
func hasRow(table string, fields ...string) bool {
	for _, l := range strings.Split(table, "\n") {
		if strings.Join(strings.Fields(l), " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}
