package directory_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/directory"
)

// busyWorld plays a history that uses every event type, with moves, deletions and removals
// among memberships, positions and grants.
func busyWorld(t *testing.T) *world {
	w := newWorld(t)
	erin := domain.UserIDFor("erin")
	w.names[erin] = "erin"
	eng := w.dept(nil, "Engineering")
	backend := w.dept(&eng, "Backend")
	storage := w.dept(&backend, "Storage")
	ops := w.dept(nil, "Operations")
	w.addTo(backend, w.bob, true)
	w.addTo(storage, w.carol, false)
	w.addTo(ops, w.dave, true)
	w.addTo(storage, w.dave, false)
	pos := uuid.New()
	role := uuid.New()
	name := "Platform"
	w.emit(w.org, w.alice, domain.PositionDefined{OrgID: w.org, PositionID: pos, Name: "Engineer", Rank: 2})
	w.emit(w.org, w.alice, domain.PositionAssigned{OrgID: w.org, UserID: w.carol, DepartmentID: storage, PositionID: pos})
	w.emit(w.org, w.alice, domain.OrgRoleCreated{OrgID: w.org, RoleID: role, Name: "lead", Permissions: []string{domain.PermManageMembers}})
	w.emit(w.org, w.alice, domain.OrgRoleGranted{OrgID: w.org, UserID: w.bob, RoleID: role, DepartmentID: &backend})
	w.emit(w.org, w.alice, domain.DepartmentHeadSet{OrgID: w.org, DepartmentID: backend, UserID: &w.bob})
	w.emit(w.org, w.alice, domain.DepartmentRenamed{OrgID: w.org, DepartmentID: backend, Name: name})
	w.emit(w.org, w.alice, domain.DepartmentMoved{OrgID: w.org, DepartmentID: backend, FromParentID: &eng, ParentID: &ops})
	w.emit(w.org, w.alice, domain.OrgMemberInvited{OrgID: w.org, UserID: erin, Username: "erin", InvitedBy: w.alice, InvitedAt: w.log.now})
	w.emit(w.org, erin, domain.OrgMemberJoined{OrgID: w.org, UserID: erin, Username: "erin", Via: domain.JoinedByInvitation, JoinedAt: w.log.now})
	w.addTo(storage, erin, false)
	w.emit(w.org, w.alice, domain.DepartmentDeleted{OrgID: w.org, DepartmentID: storage, ParentID: &backend, DeletedAt: w.log.now})
	w.emit(w.org, w.alice, domain.DepartmentRoomCreated{OrgID: w.org, DepartmentID: ops, RoomID: domain.DepartmentRoomIDFor(w.org, ops), Name: "ops"})
	w.emit(w.org, w.alice, domain.OrgBroadcastSent{OrgID: w.org, BroadcastID: uuid.New(), Title: "Hello", Body: "All hands", SentBy: w.alice, SentAt: w.log.now})
	w.emit(w.org, w.bob, domain.OrgMemberRemoved{OrgID: w.org, UserID: w.bob, Username: "bob", Left: true, RemovedBy: w.bob})
	w.emit(w.org, w.alice, domain.DepartmentMemberRemoved{OrgID: w.org, DepartmentID: ops, UserID: w.dave, NewPrimaryID: &backend})
	w.emit(w.org, w.alice, domain.PositionDeleted{OrgID: w.org, PositionID: pos})
	return w
}

// digest is a fingerprint of every row of the directory's tables in schema.
func digest(t *testing.T, w *world, schema string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tbl := range directory.Tables {
		var d *string
		q := fmt.Sprintf(`SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM %s x`, pgx.Identifier{schema, tbl}.Sanitize())
		if err := w.pool.QueryRow(w.ctx, q).Scan(&d); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if d == nil {
			out[tbl] = "empty"
		} else {
			out[tbl] = *d
		}
	}
	return out
}

// A batch applied again changes nothing (the checkpoint skips it); the same log applied from
// the start into a generation in batches of other sizes (as a rebuild does) gives the same rows
// as the live projection, which applied it event by event.
func TestIdempotentAndRebuildEqualsLive(t *testing.T) {
	w := busyWorld(t)
	live := digest(t, w, "public")
	if live["org_departments"] == "empty" || live["org_department_members"] == "empty" || live["org_audit"] == "empty" {
		t.Fatalf("the history left nothing to compare: %v", live)
	}
	w.checkCounts()
	w.apply(w.all...)
	if again := digest(t, w, "public"); fmt.Sprint(again) != fmt.Sprint(live) {
		t.Fatalf("applying the log again changed the directory:\n%v\n%v", live, again)
	}

	for _, size := range []int{1000, 7, 3} {
		schema := fmt.Sprintf("directory_gen_%d", size)
		if _, err := w.pool.Exec(w.ctx, `CREATE SCHEMA `+schema); err != nil {
			t.Fatal(err)
		}
		for _, tbl := range directory.Tables {
			if _, err := w.pool.Exec(w.ctx, fmt.Sprintf(`CREATE TABLE %s.%s (LIKE public.%s INCLUDING ALL)`, schema, tbl, tbl)); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < len(w.all); i += size {
			batch := w.all[i:min(i+size, len(w.all))]
			if err := directory.Definition.ApplyIn(w.ctx, w.pool, schema, schema, batch); err != nil {
				t.Fatal(err)
			}
		}
		if got := digest(t, w, schema); fmt.Sprint(got) != fmt.Sprint(live) {
			for tbl := range live {
				if got[tbl] != live[tbl] {
					t.Errorf("batches of %d: %s differs from the live one", size, tbl)
				}
			}
		}
	}
}

// An event of the log with NUL in its text (written before the domain refused it, or by
// another writer) is stored without it, rather than stalling the projection.
func TestNULInEvents(t *testing.T) {
	w := newWorld(t)
	d := w.dept(nil, "Eng\x00ineering")
	w.emit(w.org, w.alice, domain.OrgMemberJoined{OrgID: w.org, UserID: uuid.New(), Username: "mal\x00lory", Via: domain.JoinedByAdding})
	if c := w.chart(&d); c["Engineering"] == nil {
		t.Fatalf("chart: %v", c)
	}
	if got := w.members(directory.MemberQuery{Q: "mallory"}); len(got) != 1 {
		t.Fatalf("search mallory: %v", got)
	}
}

// checkCounts compares every department's kept counts with counts made from scratch.
func (w *world) checkCounts() {
	w.t.Helper()
	var bad int
	err := w.pool.QueryRow(w.ctx, `SELECT count(*) FROM org_departments a
		WHERE a.direct_count <> (SELECT count(*) FROM org_department_members m WHERE m.department_id = a.id)
		   OR a.subtree_count <> (SELECT count(DISTINCT m.user_id) FROM org_departments d
				JOIN org_department_members m ON m.department_id = d.id WHERE d.path @> ARRAY[a.id])
		   OR a.path[cardinality(a.path)] <> a.id
		   OR a.path[1:cardinality(a.path) - 1] <> COALESCE((SELECT p.path FROM org_departments p WHERE p.id = a.parent_id), '{}')`).Scan(&bad)
	if err != nil || bad != 0 {
		w.t.Fatalf("%d departments whose counts or path are wrong (%v)", bad, err)
	}
}

// ?position=: a position the directory applied is reached at once, one it has not is
// ErrNotCaughtUp after the wait; a position on another topic says nothing about it.
func TestWaitFor(t *testing.T) {
	w := newWorld(t)
	last := w.all[len(w.all)-1]
	if err := w.store.WaitFor(w.ctx, domain.Position{Topic: orgTopic, Partition: 0, Offset: last.Offset}, time.Second); err != nil {
		t.Fatalf("wait for an applied position: %v", err)
	}
	if err := w.store.WaitFor(w.ctx, domain.Position{Topic: orgTopic, Partition: 0, Offset: last.Offset + 1}, 50*time.Millisecond); !errors.Is(err, directory.ErrNotCaughtUp) {
		t.Fatalf("wait for a position not applied: %v", err)
	}
	if err := w.store.WaitFor(w.ctx, domain.Position{Topic: "chat-events", Partition: 0, Offset: 99}, 50*time.Millisecond); err != nil {
		t.Fatalf("wait for a position on another topic: %v", err)
	}
}
