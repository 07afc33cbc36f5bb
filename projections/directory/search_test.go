package directory_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/directory"
)

// person is what the search test knows of a member, to tell which members a query keeps.
type person struct {
	id       uuid.UUID
	username string
	display  *string
	depts    []uuid.UUID // the departments whose subtree holds them
	position *uuid.UUID
	role     bool
}

// searchWorld is an organization of a few hundred members whose names make common
// substrings (a first or last name: a fifth or a third of them), ones that only a stretch of
// the directory's order holds (the first names, which the usernames start with), rare ones
// (a number) and ones only display names hold, with departments, positions and a role.
type searchWorld struct {
	*world
	people           []person
	eng, web, sales  uuid.UUID
	developer, audit uuid.UUID
}

func newSearchWorld(t *testing.T) *searchWorld {
	t.Helper()
	w := &searchWorld{world: newWorld(t), developer: uuid.New(), audit: uuid.New()}
	w.eng = w.dept(nil, "Engineering")
	w.web = w.dept(&w.eng, "Web")
	w.sales = w.dept(nil, "Sales")
	w.emit(w.org, w.alice, domain.PositionDefined{OrgID: w.org, PositionID: w.developer, Name: "Developer", Rank: 1})
	w.emit(w.org, w.alice, domain.OrgRoleCreated{OrgID: w.org, RoleID: w.audit, Name: "auditor", Permissions: []string{domain.PermReadAuditLog}})
	for _, u := range []uuid.UUID{w.alice, w.bob, w.carol, w.dave} {
		w.people = append(w.people, person{id: u, username: w.names[u]})
	}

	firsts, lasts := []string{"ada", "bruno", "chen", "dana", "zoe"}, []string{"berg", "costa", "rossi"}
	var (
		recs  []directory.Record
		users [][]any
	)
	ev := func(d domain.EventData) { recs = append(recs, w.log.ev(w.org, w.alice, d)) }
	for i := range 300 {
		first, last := firsts[i%len(firsts)], lasts[(i/len(firsts))%len(lasts)]
		p := person{id: uuid.New(), username: fmt.Sprintf("%s%s%03d", first, last, i)}
		ev(domain.OrgMemberJoined{OrgID: w.org, UserID: p.id, Username: p.username, Via: domain.JoinedByAdding, AddedBy: w.alice, JoinedAt: w.log.now})
		switch {
		case i%7 == 0: // no row in the read model's users (yet): found by username only
		case i%11 == 0:
			p.display = ptr("Quinn Xu") // a display name the username does not hold
		default:
			p.display = ptr(strings.ToUpper(first[:1]) + first[1:] + " " + strings.ToUpper(last[:1]) + last[1:])
		}
		if p.display != nil {
			users = append(users, []any{p.id, p.username, p.username, *p.display, w.log.now, w.log.now})
		}
		var in *uuid.UUID
		switch i % 3 {
		case 0:
			in, p.depts = &w.web, []uuid.UUID{w.web, w.eng}
		case 1:
			in, p.depts = &w.sales, []uuid.UUID{w.sales}
		}
		if in != nil {
			ev(domain.DepartmentMemberAdded{OrgID: w.org, DepartmentID: *in, UserID: p.id, Primary: true, AddedBy: w.alice, AddedAt: w.log.now})
			if i%4 == 0 {
				p.position = &w.developer
				ev(domain.PositionAssigned{OrgID: w.org, UserID: p.id, DepartmentID: *in, PositionID: w.developer})
			}
		}
		if i%6 == 0 {
			p.role = true
			ev(domain.OrgRoleGranted{OrgID: w.org, UserID: p.id, RoleID: w.audit})
		}
		w.names[p.id] = p.username
		w.people = append(w.people, p)
	}
	w.apply(recs...)
	if _, err := w.pool.CopyFrom(w.ctx, pgx.Identifier{"users"}, []string{"id", "username", "username_lower", "display_name", "created_at", "updated_at"},
		pgx.CopyFromRows(users)); err != nil {
		t.Fatal(err)
	}
	return w
}

// want is the usernames q keeps, in the directory's order.
func (w *searchWorld) want(q directory.MemberQuery) []string {
	var out []string
	s := strings.ToLower(q.Q)
	for _, p := range w.people {
		if s != "" && !strings.Contains(p.username, s) && (p.display == nil || !strings.Contains(strings.ToLower(*p.display), s)) ||
			q.DepartmentID != nil && !slices.Contains(p.depts, *q.DepartmentID) ||
			q.PositionID != nil && (p.position == nil || *p.position != *q.PositionID) ||
			q.RoleID != nil && !p.role {
			continue
		}
		out = append(out, p.username)
	}
	slices.Sort(out) // lower-case letters and digits: byte order is the database's order too
	return out
}

// pages reads every page of q, checking that each but the last is full and the last has no
// next cursor.
func (w *searchWorld) pages(q directory.MemberQuery) []string {
	w.t.Helper()
	var out []string
	for {
		page, next, err := w.store.Members(w.ctx, w.org, q)
		if err != nil {
			w.t.Fatalf("Members %+v: %v", q, err)
		}
		for _, m := range page {
			out = append(out, m.Username)
		}
		if next == nil {
			return out
		}
		if len(page) != q.Limit || len(out) > len(w.people) {
			w.t.Fatalf("Members %+v: a page of %d before the last (want %d), %d members so far", q, len(page), q.Limit, len(out))
		}
		q.After = next
	}
}

// The name search, alone and with the other filters, page by page: whether a substring is
// common (the walk stops soon), held only by one stretch of the order or rare (the walk goes on
// to the end), or only in display names, every match comes once, in order, and nothing else.
func TestMemberSearchCommonAndRare(t *testing.T) {
	w := newSearchWorld(t)
	qs := []directory.MemberQuery{
		{Q: "berg"},     // a last name: a third, spread over the order
		{Q: "ADA"},      // a first name: a fifth, and dana's too
		{Q: "zoe"},      // only at the end of the order
		{Q: "rossi22"},  // rare: rossi220..rossi224
		{Q: "costa007"}, // one, and no display name holds it
		{Q: "quinn"},    // display names only
		{Q: "a b"},      // display names only, across the space
		{Q: "nobody"},   // none: the walk reads to the end
		{Q: "o", DepartmentID: &w.eng},
		{Q: "berg", PositionID: &w.developer},
		{Q: "a", RoleID: &w.audit},
		{Q: "e", DepartmentID: &w.web, PositionID: &w.developer, RoleID: &w.audit},
		{Q: "ros", DepartmentID: &w.sales},
		{DepartmentID: &w.eng},
		{PositionID: &w.developer},
	}
	// Either way a name search can take: walking the directory's order (every name common),
	// collecting the matches (every name rare), and the choice between them (50: "berg",
	// "ada" and "zoe" walk, "quinn" and "a b" are collected; with another filter, whether it
	// keeps fewer than 50 decides too).
	for _, rare := range []int{0, 1 << 30, 50} {
		directory.SetRareMatches(w.store, rare)
		for _, q := range qs {
			want := w.want(q)
			if q.Q != "nobody" && len(want) == 0 {
				t.Fatalf("%+v keeps nobody: not a test of the search", q)
			}
			for _, limit := range []int{1, 7, directory.MaxMemberLimit} {
				q.Limit = limit
				if got := w.pages(q); !slices.Equal(got, want) {
					t.Errorf("rare under %d: search %q (department %v, position %v, role %v) in pages of %d:\n got %v\nwant %v",
						rare, q.Q, q.DepartmentID != nil, q.PositionID != nil, q.RoleID != nil, limit, got, want)
				}
			}
		}
	}

	// A page carries the details of its members: the display name the read model has, none
	// for a member it has not heard of yet, and the primary department.
	page, _, err := w.store.Members(w.ctx, w.org, directory.MemberQuery{Q: "costa0", Limit: directory.MaxMemberLimit})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]directory.Member{}
	for _, m := range page {
		byName[m.Username] = m
	}
	if m := byName["zoecosta009"]; m.DisplayName == nil || *m.DisplayName != "Zoe Costa" || m.PrimaryDepartmentID == nil || *m.PrimaryDepartmentID != w.web {
		t.Errorf("zoecosta009: %+v", m)
	}
	if m, ok := byName["adacosta035"]; !ok || m.DisplayName != nil || m.PrimaryDepartmentID != nil {
		t.Errorf("adacosta035 (no users row, no department): %+v", m)
	}
}
