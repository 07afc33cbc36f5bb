package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/directory"
)

// step is one kind of timed query; f returns the rows it read.
type step struct {
	name string
	f    func() (int, error)
}

// steps are the timed kinds. The names are made of 26 first and 26 last names, so a few
// letters of one match thousands of members (a username's first name, which its order
// starts with, puts them together in one stretch of the directory's order; a last name spreads
// them over all of it), the end of a username (its number) matches a few dozen, a whole
// display name about 70, and a made-up word none: a walk that stops at a page must still be
// quick when nothing stops it. With baseline, every kind of member search is timed too as it
// was first written.
func (g *generator) steps(ctx context.Context, pool *pgxpool.Pool, store *directory.Store, rng *rand.Rand, baseline bool) []step {
	user := func() int { return rng.IntN(len(g.users)) }
	admin := domain.OrgRoleIDFor(g.org, domain.RoleAdmin)
	named := []struct {
		name string
		q    func() directory.MemberQuery
		next bool // time the first page and the one after it
	}{
		{"a username's first or last name (3–5 letters, thousands)", func() directory.MemberQuery {
			u := g.usernames[user()]
			return directory.MemberQuery{Q: substring(rng, strings.TrimRight(u, "0123456789"))}
		}, false},
		{"a username's end (its last 4–5 characters, a few dozen)", func() directory.MemberQuery {
			u := []rune(g.usernames[user()])
			return directory.MemberQuery{Q: string(u[len(u)-min(len(u), 4+rng.IntN(2)):])}
		}, false},
		{"a substring of a display name (3–5 letters, thousands)", func() directory.MemberQuery {
			return directory.MemberQuery{Q: substring(rng, g.displays[user()])}
		}, false},
		{"a whole display name (about 70)", func() directory.MemberQuery {
			return directory.MemberQuery{Q: g.displays[user()]}
		}, false},
		{"a name nobody has", func() directory.MemberQuery {
			return directory.MemberQuery{Q: "qx" + strconv.Itoa(rng.IntN(1000))}
		}, false},
		{"a name, first and next page", func() directory.MemberQuery {
			return directory.MemberQuery{Q: substring(rng, g.displays[user()])}
		}, true},
		{"a name within a top-level department", func() directory.MemberQuery {
			return directory.MemberQuery{Q: substring(rng, g.displays[user()]), DepartmentID: &g.depts[rng.IntN(5)].id}
		}, false},
		{"a name and a position", func() directory.MemberQuery {
			return directory.MemberQuery{Q: substring(rng, g.displays[user()]), PositionID: &g.positions[rng.IntN(len(g.positions))]}
		}, false},
		{"a name and the admin role (1% of members)", func() directory.MemberQuery {
			return directory.MemberQuery{Q: substring(rng, g.displays[user()]), RoleID: &admin}
		}, false},
		{"a department's subtree", func() directory.MemberQuery {
			return directory.MemberQuery{DepartmentID: &g.depts[rng.IntN(len(g.depts))].id}
		}, false},
		{"a position, first and next page", func() directory.MemberQuery {
			return directory.MemberQuery{PositionID: &g.positions[rng.IntN(len(g.positions))]}
		}, true},
	}
	type search func(directory.MemberQuery) (int, *directory.MemberCursor, error)
	pages := func(q directory.MemberQuery, next bool, f search) (int, error) {
		n, after, err := f(q)
		if err != nil || !next || after == nil {
			return n, err
		}
		q.After = after
		m, _, err := f(q)
		return n + m, err
	}
	stored := func(q directory.MemberQuery) (int, *directory.MemberCursor, error) {
		page, next, err := store.Members(ctx, g.org, q)
		return len(page), next, err
	}
	before := func(q directory.MemberQuery) (int, *directory.MemberCursor, error) {
		return baselineMembers(ctx, pool, g.org, q)
	}
	var out []step
	for _, n := range named {
		out = append(out, step{"search: " + n.name, func() (int, error) { return pages(n.q(), n.next, stored) }})
		if baseline {
			out = append(out, step{"before: " + n.name, func() (int, error) { return pages(n.q(), n.next, before) }})
		}
	}
	return append(out,
		step{"org chart: the whole organization", func() (int, error) {
			tops, err := store.OrgChart(ctx, g.org, nil)
			return len(tops), err
		}},
		step{"org chart: a department's subtree", func() (int, error) {
			tops, err := store.OrgChart(ctx, g.org, &g.depts[rng.IntN(len(g.depts))].id)
			return len(tops), err
		}},
	)
}

// baselineMembers is the directory's member search as it was first written, kept here to be
// timed beside the store's: the ids whose username or display name matches, collected through
// the trigram indexes, then sorted for the page.
func baselineMembers(ctx context.Context, pool *pgxpool.Pool, org uuid.UUID, q directory.MemberQuery) (int, *directory.MemberCursor, error) {
	args := []any{org, directory.DefaultMemberLimit + 1}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	cond := ""
	if q.Q != "" {
		r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
		p := arg("%" + r.Replace(strings.ToLower(q.Q)) + "%")
		cond += ` AND m.user_id IN (
			SELECT n.user_id FROM org_members n WHERE n.org_id = $1 AND n.username_lower LIKE ` + p + `
			UNION SELECT x.id FROM users x WHERE lower(x.display_name) LIKE ` + p + `)`
	}
	if q.DepartmentID != nil {
		cond += ` AND m.user_id IN (SELECT dm.user_id FROM org_departments d
			JOIN org_department_members dm ON dm.department_id = d.id WHERE d.path @> ARRAY[` + arg(*q.DepartmentID) + `::uuid])`
	}
	if q.PositionID != nil {
		cond += ` AND m.user_id IN (SELECT pa.user_id FROM org_position_assignments pa WHERE pa.position_id = ` + arg(*q.PositionID) + `)`
	}
	if q.RoleID != nil {
		cond += ` AND m.user_id IN (SELECT g.user_id FROM org_role_grants g WHERE g.role_id = ` + arg(*q.RoleID) + `)`
	}
	if q.After != nil {
		cond += ` AND (m.username_lower, m.user_id) > (` + arg(q.After.Username) + `::text, ` + arg(q.After.UserID) + `::uuid)`
	}
	rows, err := pool.Query(ctx, `SELECT m.user_id, m.username, m.username_lower, u.display_name, m.via, m.joined_at,
			(SELECT p.department_id FROM org_department_members p WHERE p.org_id = m.org_id AND p.user_id = m.user_id AND p.is_primary LIMIT 1)
		FROM org_members m LEFT JOIN users u ON u.id = m.user_id
		WHERE m.org_id = $1`+cond+`
		ORDER BY m.username_lower, m.user_id
		LIMIT $2`, args...)
	if err != nil {
		return 0, nil, fmt.Errorf("baseline: %w", err)
	}
	var (
		got, page []directory.MemberCursor
		c         directory.MemberCursor
		skip      any
	)
	_, err = pgx.ForEachRow(rows, []any{&c.UserID, &skip, &c.Username, &skip, &skip, &skip, &skip}, func() error {
		got = append(got, c)
		return nil
	})
	if err != nil || len(got) <= directory.DefaultMemberLimit {
		return len(got), nil, err
	}
	page = got[:directory.DefaultMemberLimit]
	return len(page), &page[len(page)-1], nil
}
