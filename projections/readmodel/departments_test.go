package readmodel_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// A department room shows its department (the name once the directory has it), in the room and
// in the list, which ?org= narrows to an organization's department rooms; an ordinary room shows
// none; a released room is no department's any more. A replay changes nothing.
func TestRoomDepartment(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)
	alice, _, r1 := log.register("alice")
	plain, r2 := log.createRoom(alice, "plain", false, "")
	org, dept, other := uuid.New(), uuid.New(), uuid.New()
	room := domain.DepartmentRoomIDFor(org, dept)
	otherRoom := domain.DepartmentRoomIDFor(other, dept)
	server := domain.SystemActorID
	create := func(id, org uuid.UUID, name string) []readmodel.Record {
		return concat(
			log.do(domain.NewCommand(uuid.New(), id, server, "server", log.now, domain.CreateRoom{Name: name,
				Department: &domain.RoomDepartment{OrgID: org, DepartmentID: dept}})),
			log.do(domain.NewCommand(uuid.New(), id, server, "server", log.now, domain.SyncDepartmentRoom{SourceVersion: 1,
				Add: []domain.ManagedMember{{UserID: alice, Username: "alice"}}})))
	}
	all := concat(r1, r2, create(room, org, "backend"), create(otherRoom, other, "elsewhere"))
	apply(t, store, all)
	apply(t, store, all) // a replay

	want := projections.RoomDepartment{OrgID: org, DepartmentID: dept}
	got, err := store.Room(ctx, room)
	if err != nil || got.Department == nil || *got.Department != want {
		t.Fatalf("the department room before the directory has its department: %+v %v", got.Department, err)
	}
	if got, err := store.Room(ctx, plain); err != nil || got.Department != nil {
		t.Fatalf("an ordinary room: %+v %v", got.Department, err)
	}
	// The directory's department gives the name.
	if _, err := pool.Exec(ctx, `INSERT INTO org_departments (id, org_id, name, path, created_at) VALUES ($1, $2, 'Backend', ARRAY[$1::uuid], now())`, dept, org); err != nil {
		t.Fatal(err)
	}
	want.Name = "Backend"
	if got, err := store.Room(ctx, room); err != nil || got.Department == nil || *got.Department != want {
		t.Fatalf("the department room: %+v %v", got.Department, err)
	}

	list := func(q readmodel.RoomListQuery) []uuid.UUID {
		t.Helper()
		rooms, _, err := store.ListRooms(ctx, alice, q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []uuid.UUID
		for _, r := range rooms {
			if (r.ID == room) != (r.Department != nil && *r.Department == want) {
				t.Errorf("listed %s with department %+v", r.Name, r.Department)
			}
			ids = append(ids, r.ID)
		}
		return ids
	}
	if ids := list(readmodel.RoomListQuery{}); len(ids) != 3 {
		t.Fatalf("every room: %v", ids)
	}
	if ids := list(readmodel.RoomListQuery{Org: org}); len(ids) != 1 || ids[0] != room {
		t.Fatalf("the organization's department rooms: %v", ids)
	}
	if ids := list(readmodel.RoomListQuery{Org: org, Mine: true, Q: "back"}); len(ids) != 1 || ids[0] != room {
		t.Fatalf("mine, by name, of the organization: %v", ids)
	}
	if ids := list(readmodel.RoomListQuery{Org: uuid.New()}); len(ids) != 0 {
		t.Fatalf("another organization's: %v", ids)
	}

	released := log.do(domain.NewCommand(uuid.New(), room, server, "server", log.now.Add(time.Second), domain.ReleaseDepartmentRoom{SourceVersion: 2}))
	apply(t, store, released)
	apply(t, store, released)
	if got, err := store.Room(ctx, room); err != nil || got.Department != nil {
		t.Fatalf("a released room: %+v %v", got.Department, err)
	}
	if ids := list(readmodel.RoomListQuery{Org: org}); len(ids) != 0 {
		t.Fatalf("the organization's department rooms after the release: %v", ids)
	}
}
