package onlinetime

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// DateLayout is how the report writes and reads days.
const DateLayout = "2006-01-02"

// ReportQuery selects an online-time report: the members of an organization (those of a
// department's subtree, or one member), the days From to To (both included, in the
// organization's time zone), counting open sessions up to Now.
type ReportQuery struct {
	OrgID        uuid.UUID
	From, To     time.Time // days: only the date counts
	DepartmentID *uuid.UUID
	UserID       *uuid.UUID
	Now          time.Time
}

// Report is the seconds each member was online per day.
type Report struct {
	OrgID        uuid.UUID  `json:"org_id"`
	TimeZone     string     `json:"time_zone"`
	From         string     `json:"from"`
	To           string     `json:"to"`
	DepartmentID *uuid.UUID `json:"department_id,omitempty"`
	Users        []UserTime `json:"users"`
}

// UserTime is one member's time: the total and the days with any.
type UserTime struct {
	UserID       uuid.UUID    `json:"user_id"`
	Username     string       `json:"username"`
	TotalSeconds int64        `json:"total_seconds"`
	Days         []DaySeconds `json:"days"`
}

// DaySeconds is the time online in one day.
type DaySeconds struct {
	Date    string `json:"date"`
	Seconds int64  `json:"seconds"`
}

// scopeSQL is the members the report covers, in the directory's order (by name): $1 the
// organization, $2 one member or NULL, $3 a department whose subtree (path holds it) they must
// be in, or NULL.
const scopeSQL = `
	SELECT m.user_id, m.username FROM org_members m
	WHERE m.org_id = $1 AND ($2::uuid IS NULL OR m.user_id = $2)
	  AND ($3::uuid IS NULL OR m.user_id IN (
		SELECT dm.user_id FROM org_departments d JOIN org_department_members dm ON dm.department_id = d.id
		WHERE d.org_id = $1 AND d.path @> ARRAY[$3::uuid]))
	ORDER BY m.username_lower, m.user_id`

// secondsSQL is the seconds of each member of the scope in each day $4..$5, computed from the
// sessions, a day being from its midnight to the next in the organization's time zone (23 or 25
// hours across a change of daylight saving time): the days' bounds are computed once, then each
// session (an open one ending at $6; none starting at or after $6) is cut at the bounds of the
// days it overlaps. The straight computation: what the totals (totalsSQL) must agree with, and
// what a zone without totals is reported from.
const secondsSQL = `
	WITH ` + daysSQL + `,
	cut AS (
		SELECT x.user_id, x.started_at AS s, COALESCE(x.ended_at, $6) AS e
		FROM scope JOIN online_sessions x ON x.user_id = scope.user_id CROSS JOIN span
		WHERE x.started_at < span.hi AND COALESCE(x.ended_at, $6) > span.lo AND x.started_at < $6)
	SELECT c.user_id, dy.day, sum(date_part('epoch', LEAST(c.e, dy.hi) - GREATEST(c.s, dy.lo)))
	FROM cut c JOIN days dy ON dy.lo < c.e AND dy.hi > c.s
	GROUP BY c.user_id, dy.day`

// daysSQL is the days $4..$5 of organization $1 (day, lo, hi: its bounds), their span, and the
// scope's members.
const daysSQL = `days AS MATERIALIZED (
		SELECT d::date AS day, d AT TIME ZONE o.time_zone AS lo, (d + interval '1 day') AT TIME ZONE o.time_zone AS hi
		FROM organizations o, generate_series($4::date::timestamp, $5::date::timestamp, interval '1 day') AS d
		WHERE o.id = $1),
	span AS (SELECT min(lo) AS lo, max(hi) AS hi FROM days),
	scope AS (` + scopeSQL + `)`

// The totals' path reads what secondsSQL computes (exactly, in microseconds, rounded to seconds
// once) in two statements on one snapshot, member by member (LATERAL: index scans of the
// member's rows, whatever their history): totalsSQL the closed sessions' microseconds of each
// day from the daily totals of the organization's zone $7 (online_daily), and lateSQL what
// changes them up to $6: the open sessions up to $6 (a partial index finds them), less the
// closed sessions that start at or after $6 (which the sessions' computation leaves out), each
// cut at the days' bounds as there.
const (
	totalsSQL = `
	WITH scope AS (` + scopeSQL + `)
	SELECT scope.user_id, t.day, t.micros
	FROM scope CROSS JOIN LATERAL (
		SELECT t.day, t.micros FROM online_daily t
		WHERE t.time_zone = $6 AND t.user_id = scope.user_id AND t.day BETWEEN $4::date AND $5::date) t`

	lateSQL = `
	WITH ` + daysSQL + `,
	late AS (
		SELECT x.user_id, x.started_at AS s, $6::timestamptz AS e, 1 AS sign
		FROM scope CROSS JOIN span CROSS JOIN LATERAL (
			SELECT x.user_id, x.started_at FROM online_sessions x
			WHERE x.user_id = scope.user_id AND x.ended_at IS NULL AND x.started_at < $6 AND x.started_at < span.hi) x
		WHERE $6 > span.lo
		UNION ALL
		SELECT x.user_id, x.started_at, x.ended_at, -1
		FROM scope CROSS JOIN span CROSS JOIN LATERAL (
			SELECT x.user_id, x.started_at, x.ended_at FROM online_sessions x
			WHERE x.user_id = scope.user_id AND x.started_at >= $6 AND x.started_at < span.hi AND x.ended_at > span.lo) x)
	SELECT l.user_id, dy.day, (l.sign * extract(epoch FROM LEAST(l.e, dy.hi) - GREATEST(l.s, dy.lo)) * 1000000)::bigint
	FROM late l JOIN days dy ON dy.lo < l.e AND dy.hi > l.s`
)

// Report computes the report of q: from the daily totals of the organization's time zone when
// the projection keeps them (it has seen an organization with that zone), else from the sessions.
// The organization must exist (the caller checked it).
func (s *Store) Report(ctx context.Context, q ReportQuery) (Report, error) {
	return s.report(ctx, q, true)
}

// ReportFromSessions computes the report of q from the sessions alone, as Report did before the
// daily totals: what they are checked and measured against.
func (s *Store) ReportFromSessions(ctx context.Context, q ReportQuery) (Report, error) {
	return s.report(ctx, q, false)
}

func (s *Store) report(ctx context.Context, q ReportQuery, totals bool) (Report, error) {
	out := Report{OrgID: q.OrgID, From: q.From.Format(DateLayout), To: q.To.Format(DateLayout), DepartmentID: q.DepartmentID, Users: []UserTime{}}
	// One read-only transaction on one snapshot (the totals and the sessions agree), without
	// JIT: the planner's estimate for the days each session is spread over (generate_series)
	// is far too high, and compiling the plan took longer than running it (2 s of a
	// 5,000-member month).
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return Report{}, fmt.Errorf("online time: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only: nothing to undo
	if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
		return Report{}, fmt.Errorf("online time: %w", err)
	}
	var kept bool
	if err := tx.QueryRow(ctx, `SELECT o.time_zone, EXISTS (SELECT 1 FROM online_zones z WHERE z.zone = o.time_zone)
		FROM organizations o WHERE o.id = $1`, q.OrgID).Scan(&out.TimeZone, &kept); err != nil {
		return Report{}, fmt.Errorf("online time: organization %s: %w", q.OrgID, err)
	}
	rows, err := tx.Query(ctx, scopeSQL, q.OrgID, q.UserID, q.DepartmentID)
	if err != nil {
		return Report{}, fmt.Errorf("online time: members: %w", err)
	}
	index := map[uuid.UUID]int{}
	for rows.Next() {
		var u UserTime
		if err := rows.Scan(&u.UserID, &u.Username); err != nil {
			rows.Close()
			return Report{}, fmt.Errorf("online time: members: %w", err)
		}
		u.Days = []DaySeconds{}
		index[u.UserID] = len(out.Users)
		out.Users = append(out.Users, u)
	}
	if err := rows.Err(); err != nil {
		return Report{}, fmt.Errorf("online time: members: %w", err)
	}
	if totals && kept {
		err = totalsIn(ctx, tx, q, &out, index)
	} else {
		err = sessionsIn(ctx, tx, q, &out, index)
	}
	if err != nil {
		return Report{}, fmt.Errorf("online time: %w", err)
	}
	for i := range out.Users {
		slices.SortFunc(out.Users[i].Days, func(a, b DaySeconds) int { return strings.Compare(a.Date, b.Date) })
	}
	return out, nil
}

// WriteCSV writes r as CSV for spreadsheets: a header, then one row per member and day of the
// range, in the report's order, days without time included (0), so that every member has the
// same rows.
func WriteCSV(w io.Writer, r Report) error {
	from, err := time.Parse(DateLayout, r.From)
	if err != nil {
		return err
	}
	to, err := time.Parse(DateLayout, r.To)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"user_id", "username", "date", "seconds"}); err != nil {
		return err
	}
	for _, u := range r.Users {
		got := make(map[string]int64, len(u.Days))
		for _, d := range u.Days {
			got[d.Date] = d.Seconds
		}
		for day := from; !day.After(to); day = day.AddDate(0, 0, 1) {
			date := day.Format(DateLayout)
			if err := cw.Write([]string{u.UserID.String(), u.Username, date, strconv.FormatInt(got[date], 10)}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// sessionsIn fills out's days from the sessions (secondsSQL).
func sessionsIn(ctx context.Context, tx pgx.Tx, q ReportQuery, out *Report, index map[uuid.UUID]int) error {
	rows, err := tx.Query(ctx, secondsSQL, q.OrgID, q.UserID, q.DepartmentID, out.From, out.To, q.Now)
	if err != nil {
		return err
	}
	var (
		user uuid.UUID
		day  time.Time
		secs float64
	)
	_, err = pgx.ForEachRow(rows, []any{&user, &day, &secs}, func() error {
		if i, ok := index[user]; ok && secs >= 0.5 {
			n := int64(secs + 0.5)
			u := &out.Users[i]
			u.Days = append(u.Days, DaySeconds{Date: day.Format(DateLayout), Seconds: n})
			u.TotalSeconds += n
		}
		return nil
	})
	return err
}

// totalsIn fills out's days from the daily totals of out's zone and the sessions after them
// (totalsSQL, lateSQL), in microseconds, rounded to seconds once per day as sessionsIn rounds.
func totalsIn(ctx context.Context, tx pgx.Tx, q ReportQuery, out *Report, index map[uuid.UUID]int) error {
	type key struct {
		user int
		day  int64 // days since 1970-01-01
	}
	micros := make(map[key]int64, len(out.Users)*8)
	var (
		user uuid.UUID
		day  time.Time
		n    int64
	)
	add := func() error {
		if i, ok := index[user]; ok {
			micros[key{i, day.Unix() / 86400}] += n
		}
		return nil
	}
	rows, err := tx.Query(ctx, totalsSQL, q.OrgID, q.UserID, q.DepartmentID, out.From, out.To, out.TimeZone)
	if err != nil {
		return err
	}
	if _, err := pgx.ForEachRow(rows, []any{&user, &day, &n}, add); err != nil {
		return err
	}
	rows, err = tx.Query(ctx, lateSQL, q.OrgID, q.UserID, q.DepartmentID, out.From, out.To, q.Now)
	if err != nil {
		return err
	}
	if _, err := pgx.ForEachRow(rows, []any{&user, &day, &n}, add); err != nil {
		return err
	}
	for k, m := range micros {
		if m >= 500000 {
			secs := (m + 500000) / 1000000
			u := &out.Users[k.user]
			u.Days = append(u.Days, DaySeconds{Date: time.Unix(k.day*86400, 0).UTC().Format(DateLayout), Seconds: secs})
			u.TotalSeconds += secs
		}
	}
	return nil
}
