package gateway

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// The online-time report: who may read which (read_online_time over the organization, or over
// a department for its subtree; a member their own; a stranger nothing), the days in the
// organization's time zone (Europe/Berlin here), JSON and CSV, and bad input.
func TestOrganizationOnlineTimeHTTP(t *testing.T) {
	o := newOrgReadEnv(t)
	sales := o.dept(o.owner, "Sales", "")
	east := o.dept(o.owner, "East", sales)
	other := o.dept(o.owner, "Other", "")
	o.mustDo(http.StatusOK, "PUT", o.org+"/departments/"+east+"/members/"+o.memberID.String(), o.owner, nil)
	// The member was online 23:00 to 01:00 Berlin time (22:00 to 24:00 UTC in winter).
	start := time.Date(2026, 1, 14, 22, 0, 0, 0, time.UTC)
	if _, err := o.pool.Exec(context.Background(), `INSERT INTO online_sessions (user_id, started_at, ended_at, cause) VALUES ($1, $2, $3, 'left')`,
		o.memberID, start, start.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	path := o.org + "/reports/online-time?from=2026-01-14&to=2026-01-15"

	wantErr(t, "a stranger", o.do("GET", path, o.stranger, nil), http.StatusNotFound, domain.CodeOrgNotFound)
	wantErr(t, "a member without the permission", o.do("GET", path, o.member, nil), http.StatusForbidden, domain.CodeForbidden)
	own := o.mustDo(http.StatusOK, "GET", path+"&user_id="+o.memberID.String(), o.member, nil)
	users := list(t, own, "users")
	if len(users) != 1 || users[0].str("user_id") != o.memberID.String() || users[0]["total_seconds"] != float64(7200) {
		t.Fatalf("the member's own time: %s", own.raw)
	}
	days := users[0]["days"].([]any)
	if len(days) != 2 || days[0].(map[string]any)["seconds"] != float64(3600) || days[1].(map[string]any)["date"] != "2026-01-15" {
		t.Fatalf("the session is not split at Berlin's midnight: %s", own.raw)
	}

	// A department-scoped grant opens its subtree, not the organization nor another department.
	reader := o.mustDo(http.StatusCreated, "POST", o.org+"/roles", o.owner, map[string]any{"name": "Timekeeper", "permissions": []string{domain.PermReadOnlineTime}}).body["role"].(map[string]any)["id"].(string)
	o.mustDo(http.StatusOK, "PUT", o.org+"/members/"+o.memberID.String()+"/roles/"+reader+"?department_id="+sales, o.owner, nil)
	wantErr(t, "a department's reader, the whole organization", o.do("GET", path, o.member, nil), http.StatusForbidden, domain.CodeForbidden)
	wantErr(t, "a department's reader, another department", o.do("GET", path+"&department_id="+other, o.member, nil), http.StatusForbidden, domain.CodeForbidden)
	sub := o.mustDo(http.StatusOK, "GET", path+"&department_id="+east, o.member, nil)
	if users := list(t, sub, "users"); len(users) != 1 || users[0].str("user_id") != o.memberID.String() {
		t.Fatalf("East's report: %s", sub.raw)
	}

	// The owner reads all, in JSON (every member, with or without time) or CSV.
	all := o.mustDo(http.StatusOK, "GET", path, o.owner, nil)
	if all.body["time_zone"] != "Europe/Berlin" || len(list(t, all, "users")) != 2 {
		t.Fatalf("the organization's report: %s", all.raw)
	}
	csv := o.do("GET", path+"&format=csv&user_id="+o.memberID.String(), o.owner, nil)
	want := "user_id,username,date,seconds\n" + o.memberID.String() + ",mark,2026-01-14,3600\n" + o.memberID.String() + ",mark,2026-01-15,3600\n"
	if csv.status != http.StatusOK || csv.raw != want {
		t.Fatalf("csv %d:\n%s\nwant\n%s", csv.status, csv.raw, want)
	}

	for name, q := range map[string]string{
		"no from":         "?to=2026-01-15",
		"not a date":      "?from=2026-13-01&to=2026-01-15",
		"inverted range":  "?from=2026-01-15&to=2026-01-14",
		"over a year":     "?from=2025-01-01&to=2026-01-15",
		"unknown format":  "?from=2026-01-14&to=2026-01-15&format=xml",
		"bad department":  "?from=2026-01-14&to=2026-01-15&department_id=x",
		"NUL in the date": "?from=2026-01-14%00&to=2026-01-15",
	} {
		wantErr(t, name, o.do("GET", o.org+"/reports/online-time"+q, o.owner, nil), http.StatusBadRequest, domain.CodeValidationFailed)
	}
	wantErr(t, "an unknown department", o.do("GET", path+"&department_id="+uuid.NewString(), o.owner, nil), http.StatusNotFound, domain.CodeDepartmentNotFound)
}
