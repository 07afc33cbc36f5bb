package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/projections/onlinetime"
	"github.com/chorus-chat/chorus/projections/queries"
)

// onlineTimeCmd: chorusctl reports online-time. An analyst's report straight from the
// database (the online-time projection and the organization directory): no permission is asked,
// as whoever holds the database URL reads every table anyway.
type onlineTimeCmd struct {
	Org        string `name:"org" required:"" placeholder:"ID|SLUG" help:"The organization, by id or slug."`
	From       string `name:"from" required:"" placeholder:"YYYY-MM-DD" help:"The first day, in the organization's time zone."`
	To         string `name:"to" required:"" placeholder:"YYYY-MM-DD" help:"The last day (included)."`
	Department string `name:"department" placeholder:"ID" help:"Only the members of this department's subtree."`
	User       string `name:"user" placeholder:"ID" help:"Only this member."`
	Format     string `name:"format" enum:"json,csv" default:"json" help:"json (a member's total and days) or csv (a row per member and day)."`
}

func (c *onlineTimeCmd) Run(e *env) error {
	in := queries.OnlineTime{From: c.From, To: c.To}
	if err := in.Check(); err != nil {
		return usagef("%s", strings.TrimPrefix(err.Error(), "validation_failed: "))
	}
	from, _ := time.Parse(onlinetime.DateLayout, c.From)
	to, _ := time.Parse(onlinetime.DateLayout, c.To)
	q := onlinetime.ReportQuery{From: from, To: to, Now: time.Now()}
	var err error
	if q.DepartmentID, err = optionalID("--department", c.Department); err != nil {
		return err
	}
	if q.UserID, err = optionalID("--user", c.User); err != nil {
		return err
	}
	pool, err := openDatabase(e.ctx, e.g.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	err = pool.QueryRow(e.ctx, `SELECT id FROM organizations WHERE id::text = lower($1) OR slug = lower($1)`, strings.TrimSpace(c.Org)).Scan(&q.OrgID)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("no organization %q (by id or slug)", c.Org)
	}
	if err != nil {
		return fmt.Errorf("organization %q: %w", c.Org, err)
	}
	if q.DepartmentID != nil {
		var n int
		if err := pool.QueryRow(e.ctx, `SELECT count(*) FROM org_departments WHERE org_id = $1 AND id = $2`, q.OrgID, *q.DepartmentID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("the organization has no department %s", *q.DepartmentID)
		}
	}
	report, err := onlinetime.NewStore(pool).Report(e.ctx, q)
	if err != nil {
		return err
	}
	if c.Format == "csv" {
		return onlinetime.WriteCSV(e.stdout, report)
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(report)
}

func optionalID(flag, raw string) (*uuid.UUID, error) {
	if raw == "" {
		return nil, nil
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return nil, usagef("%s: %q is not an id", flag, raw)
	}
	return &id, nil
}
