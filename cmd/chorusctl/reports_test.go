package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/onlinetime"
)

// chorusctl reports online-time: the organization by slug or id, the days in its time zone
// (a session across New York's midnight split there), CSV or JSON; bad input is exit 2, an
// unknown organization exit 1.
func TestReportsOnlineTime(t *testing.T) {
	dbURL, pool := migratedDB(t)
	ctx := context.Background()
	org, user := uuid.New(), uuid.New()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO organizations (id, name, slug, time_zone, created_at, updated_at) VALUES ($1, 'Acme', 'acme', 'America/New_York', $2, $2)`, []any{org, at}},
		{`INSERT INTO org_members (org_id, user_id, username, username_lower, via, joined_at) VALUES ($1, $2, 'Zoe', 'zoe', 'created', $3)`, []any{org, user, at}},
		// 23:30 to 00:45 in New York (UTC-5 in February).
		{`INSERT INTO online_sessions (user_id, started_at, ended_at, cause) VALUES ($1, $2, $3, 'left')`,
			[]any{user, time.Date(2026, 2, 3, 4, 30, 0, 0, time.UTC), time.Date(2026, 2, 3, 5, 45, 0, 0, time.UTC)}},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	run1 := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(append([]string{"--database-url", dbURL, "reports", "online-time"}, args...), &out, &errb)
		return out.String(), errb.String(), code
	}
	out, errs, code := run1("--org", "ACME", "--from", "2026-02-02", "--to", "2026-02-03", "--format", "csv")
	want := "user_id,username,date,seconds\n" + user.String() + ",Zoe,2026-02-02,1800\n" + user.String() + ",Zoe,2026-02-03,2700\n"
	if code != 0 || out != want {
		t.Fatalf("csv: exit %d %s\n%s\nwant\n%s", code, errs, out, want)
	}
	out, _, code = run1("--org", org.String(), "--from", "2026-02-02", "--to", "2026-02-02")
	if code != 0 || !strings.Contains(out, `"total_seconds": 1800`) || !strings.Contains(out, `"time_zone": "America/New_York"`) {
		t.Fatalf("json: exit %d\n%s", code, out)
	}
	for name, args := range map[string][]string{
		"inverted range": {"--org", "acme", "--from", "2026-02-03", "--to", "2026-02-02"},
		"not a date":     {"--org", "acme", "--from", "yesterday", "--to", "2026-02-02"},
		"bad format":     {"--org", "acme", "--from", "2026-02-02", "--to", "2026-02-02", "--format", "xml"},
		"bad department": {"--org", "acme", "--from", "2026-02-02", "--to", "2026-02-02", "--department", "sales"},
	} {
		if _, errs, code := run1(args...); code != 2 {
			t.Errorf("%s: exit %d (%s), want 2", name, code, errs)
		}
	}
	if _, errs, code := run1("--org", "nope", "--from", "2026-02-02", "--to", "2026-02-02"); code != 1 || !strings.Contains(errs, "no organization") {
		t.Errorf("unknown organization: exit %d %s", code, errs)
	}
	if _, errs, code := run1("--org", "acme", "--from", "2026-02-02", "--to", "2026-02-02", "--department", uuid.NewString()); code != 1 || !strings.Contains(errs, "no department") {
		t.Errorf("unknown department: exit %d %s", code, errs)
	}
}

// The online-time projection rebuilds and verifies like the others: a tampered session is found
// and repaired.
func TestProjectionsRebuildOnlineTime(t *testing.T) {
	cfg := startBroker(t, 4)
	l := newEventLog(t, cfg)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	alice := domain.UserIDFor("alice")
	ev := func(v int64, d domain.EventData) domain.Event {
		return domain.Event{ID: uuid.New(), Type: d.EventType(), AggregateType: domain.AggregateUser, AggregateID: alice, Version: v,
			OccurredAt: at, ActorID: domain.SystemActorID, CommandID: uuid.New(), SchemaVersion: domain.CurrentSchemaVersion, Data: d}
	}
	l.write(ev(1, domain.UserRegistered{UserID: alice, Username: "alice", DisplayName: "alice", RegisteredAt: at}),
		ev(2, domain.UserCameOnline{UserID: alice, At: at}),
		ev(3, domain.UserWentOffline{UserID: alice, Since: at, At: at.Add(time.Minute), Cause: domain.OfflineLeft}),
		ev(4, domain.UserCameOnline{UserID: alice, At: at.Add(time.Hour)}))

	dbURL, pool := migratedDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := onlinetime.NewStore(pool)
	applyLive(t, ctx, cfg, pool, onlinetime.Projection, []string{cfg.Topics.UserEvents}, func(r []checkpoint.Record) error { return store.ApplyBatch(ctx, r) })
	if out := mustCtl(t, cfg, "--database-url", dbURL, "projections", "verify", "onlinetime"); !strings.Contains(out, "total: 0 differing rows") {
		t.Fatalf("verify a faithful projection:\n%s", out)
	}
	if _, err := pool.Exec(ctx, `UPDATE online_sessions SET ended_at = NULL`); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := ctl(t, cfg, "--database-url", dbURL, "projections", "verify", "onlinetime"); code != 1 {
		t.Fatalf("verify after tampering: exit %d\n%s%s", code, out, errs)
	}
	if out := mustCtl(t, cfg, "--database-url", dbURL, "projections", "rebuild", "onlinetime"); !strings.Contains(out, "rebuilt onlinetime") {
		t.Fatalf("rebuild: %s", out)
	}
	var ended, open int
	if err := pool.QueryRow(ctx, `SELECT count(ended_at), count(*) - count(ended_at) FROM online_sessions WHERE user_id = $1`, alice).Scan(&ended, &open); err != nil || ended != 1 || open != 1 {
		t.Fatalf("after the rebuild: %d ended, %d open, %v; want one of each", ended, open, err)
	}
}
