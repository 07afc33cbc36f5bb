package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/cmd/internal/benchdb"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/directory"
)

type dept struct {
	id     uuid.UUID
	parent *uuid.UUID
	depth  int
}

// generator makes one organization's history.
type generator struct {
	o         options
	rng       *rand.Rand
	org       uuid.UUID
	owner     uuid.UUID
	users     []uuid.UUID
	usernames []string
	displays  []string
	depts     []dept
	positions []uuid.UUID
	version   int64
	offset    int64
	now       time.Time
	events    int
}

func newGenerator(o options) *generator {
	g := &generator{o: o, rng: rand.New(rand.NewPCG(o.Seed, 1)), org: domain.OrgIDFor("bench-corp"),
		now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for i := range o.Members {
		first, last := firstNames[g.rng.IntN(len(firstNames))], lastNames[g.rng.IntN(len(lastNames))]
		name := fmt.Sprintf("%s.%s%d", strings.ToLower(first), strings.ToLower(last), i)
		g.users = append(g.users, domain.UserIDFor(name))
		g.usernames = append(g.usernames, name)
		g.displays = append(g.displays, first+" "+last)
	}
	g.owner = g.users[0]
	// A chain as deep as the tree, four more top-level departments, and the rest under random
	// departments that leave room below them.
	for i := range o.Departments {
		d := dept{id: uuid.New()}
		switch {
		case i == 0 || (i >= o.Depth && i < o.Depth+4):
		case i < o.Depth:
			pid := g.depts[i-1].id // a copy: the slice moves as it grows
			d.parent, d.depth = &pid, i
		default:
			for {
				p := g.depts[g.rng.IntN(len(g.depts))]
				if p.depth < o.Depth-1 {
					pid := p.id
					d.parent, d.depth = &pid, p.depth+1
					break
				}
			}
		}
		g.depts = append(g.depts, d)
	}
	// Top-level departments first in g.depts[:5] (the bench draws from them).
	g.depts[1], g.depts[o.Depth] = g.depts[o.Depth], g.depts[1]
	return g
}

func (g *generator) record(d domain.EventData) directory.Record {
	g.version++
	g.now = g.now.Add(time.Millisecond)
	r := directory.Record{Topic: "org-events", Partition: 0, Offset: g.offset, Event: domain.Event{
		ID: uuid.New(), Type: d.EventType(), AggregateType: domain.AggregateOrganization, AggregateID: g.org,
		Version: g.version, OccurredAt: g.now, ActorID: g.owner, CommandID: uuid.New(), SchemaVersion: domain.CurrentSchemaVersion, Data: d}}
	g.offset++
	g.events++
	return r
}

// load writes the users' display names (the read model's table) and applies the history.
func (g *generator) load(ctx context.Context, pool *pgxpool.Pool, store *directory.Store) error {
	rows := make([][]any, len(g.users))
	for i, u := range g.users {
		rows[i] = []any{u, g.usernames[i], g.usernames[i], g.displays[i], g.now, g.now}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"users"}, []string{"id", "username", "username_lower", "display_name", "created_at", "updated_at"},
		pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("users: %w", err)
	}

	var batch []directory.Record
	emit := func(d domain.EventData) error {
		batch = append(batch, g.record(d))
		if len(batch) < g.o.Batch {
			return nil
		}
		err := store.ApplyBatch(ctx, batch)
		batch = batch[:0]
		return err
	}
	steps := []func() error{
		func() error {
			return emit(domain.OrganizationCreated{OrgID: g.org, Name: "Bench Corp", Slug: "bench-corp", OwnerID: g.owner, OwnerUsername: g.usernames[0], CreatedAt: g.now})
		},
		func() error {
			for i, u := range g.users[1:] {
				if err := emit(domain.OrgMemberJoined{OrgID: g.org, UserID: u, Username: g.usernames[i+1], Via: domain.JoinedByAdding, AddedBy: g.owner, JoinedAt: g.now}); err != nil {
					return err
				}
			}
			return nil
		},
		func() error {
			// Created parents first: the chain and the top level come first in order of depth.
			for depth := range g.o.Depth {
				for i, d := range g.depts {
					if d.depth == depth {
						if err := emit(domain.DepartmentCreated{OrgID: g.org, DepartmentID: d.id, ParentID: d.parent, Name: fmt.Sprintf("Department %d", i), CreatedAt: g.now}); err != nil {
							return err
						}
					}
				}
			}
			return nil
		},
		func() error {
			for i := range 20 {
				id := uuid.New()
				g.positions = append(g.positions, id)
				if err := emit(domain.PositionDefined{OrgID: g.org, PositionID: id, Name: fmt.Sprintf("Position %d", i), Rank: i}); err != nil {
					return err
				}
			}
			return nil
		},
		func() error {
			admin := domain.OrgRoleIDFor(g.org, domain.RoleAdmin)
			for _, u := range g.users {
				d := g.depts[g.rng.IntN(len(g.depts))].id
				for _, ev := range []domain.EventData{
					domain.DepartmentMemberAdded{OrgID: g.org, DepartmentID: d, UserID: u, Primary: true, AddedAt: g.now},
					domain.PositionAssigned{OrgID: g.org, UserID: u, DepartmentID: d, PositionID: g.positions[g.rng.IntN(len(g.positions))]},
				} {
					if err := emit(ev); err != nil {
						return err
					}
				}
				if g.rng.IntN(10) == 0 { // a second department
					if err := emit(domain.DepartmentMemberAdded{OrgID: g.org, DepartmentID: g.depts[g.rng.IntN(len(g.depts))].id, UserID: u, AddedAt: g.now}); err != nil {
						return err
					}
				}
				if g.rng.IntN(100) == 0 { // a department admin
					if err := emit(domain.OrgRoleGranted{OrgID: g.org, UserID: u, RoleID: admin, DepartmentID: &d, GrantedBy: g.owner}); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	if err := store.ApplyBatch(ctx, batch); err != nil {
		return err
	}
	// A server's autovacuum keeps the trigram indexes' pending lists flushed and the visibility
	// map (which index-only scans read) set; right after a bulk load neither holds.
	sql := `VACUUM ANALYZE`
	if !g.o.Vacuum {
		sql = `ANALYZE`
	}
	_, err := pool.Exec(ctx, sql)
	return err
}

// benchMove moves the department whose subtree holds closest to 5,000 people under another
// top-level department and times its projection (paths of the subtree, head counts above).
func (g *generator) benchMove(ctx context.Context, store *directory.Store) error {
	tops, err := store.OrgChart(ctx, g.org, nil)
	if err != nil {
		return err
	}
	var (
		best  *directory.Department
		under *directory.Department
		walk  func([]*directory.Department)
	)
	walk = func(ds []*directory.Department) {
		for _, d := range ds {
			if d.Depth > 0 && (best == nil || abs(d.HeadCount-5000) < abs(best.HeadCount-5000)) {
				best = d
			}
			walk(d.Children)
		}
	}
	walk(tops)
	if best == nil {
		return nil
	}
	for _, t := range tops {
		if !contains(t, best.ID) {
			under = t
			break
		}
	}
	if under == nil {
		return nil
	}
	start := time.Now()
	if err := store.ApplyBatch(ctx, []directory.Record{g.record(domain.DepartmentMoved{OrgID: g.org, DepartmentID: best.ID,
		FromParentID: best.ParentID, ParentID: &under.ID, MovedBy: g.owner})}); err != nil {
		return err
	}
	fmt.Printf("\nmove of a department of %d people (%d levels below it) under another branch: projected in %s\n",
		best.HeadCount, height(best), benchdb.Ms(time.Since(start)))
	return nil
}

func contains(d *directory.Department, id uuid.UUID) bool {
	if d.ID == id {
		return true
	}
	for _, c := range d.Children {
		if contains(c, id) {
			return true
		}
	}
	return false
}

func height(d *directory.Department) int {
	h := 0
	for _, c := range d.Children {
		h = max(h, 1+height(c))
	}
	return h
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
