package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
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
