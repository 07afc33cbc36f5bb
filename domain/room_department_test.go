package domain_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// The department room of the fixture organization's backend department.
var (
	deptLink   = domain.RoomDepartment{OrgID: orgID, DepartmentID: deptBackend}
	deptRoomID = domain.DepartmentRoomIDFor(orgID, deptBackend)
	server     = domain.SystemActorID
)

func deptRoomCmd(key string, actor uuid.UUID, p domain.CommandData) domain.Command {
	return domain.NewCommand(cid(key), deptRoomID, actor, names[actor], now, p)
}

func deptRoomCreated() domain.RoomCreated {
	return domain.RoomCreated{RoomID: deptRoomID, Name: "backend", Description: "", OwnerID: server, IsPrivate: true, CreatedAt: nowUTC}
}

func deptRoomLinked() domain.RoomLinkedToDepartment {
	return domain.RoomLinkedToDepartment{RoomID: deptRoomID, OrgID: orgID, DepartmentID: deptBackend}
}

func deptJoined(user uuid.UUID) domain.UserJoinedRoom {
	return domain.UserJoinedRoom{RoomID: deptRoomID, UserID: user, Username: names[user], Role: domain.RoleMember, JoinedAt: nowUTC}
}

func deptLeft(user uuid.UUID) domain.UserLeftRoom {
	return domain.UserLeftRoom{RoomID: deptRoomID, UserID: user, Username: names[user], LeftAt: nowUTC}
}

func synced(version int64, part, joined, left int) domain.RoomMembersSynced {
	return domain.RoomMembersSynced{RoomID: deptRoomID, SourceVersion: version, Part: part, Joined: joined, Left: left}
}

func released() domain.RoomReleased {
	return domain.RoomReleased{RoomID: deptRoomID, OrgID: orgID, DepartmentID: deptBackend, ReleasedAt: nowUTC}
}

func add(users ...uuid.UUID) []domain.ManagedMember {
	out := make([]domain.ManagedMember, len(users))
	for i, u := range users {
		out[i] = domain.ManagedMember{UserID: u, Username: names[u]}
	}
	return out
}

// deptRoom is the department room with ted and bob in it, after the sync of version 5.
func deptRoom(more ...domain.EventData) []domain.EventData {
	return append([]domain.EventData{deptRoomCreated(), deptRoomLinked(), synced(5, 0, 2, 0), deptJoined(ted), deptJoined(bob)}, more...)
}

func TestDepartmentRoomRules(t *testing.T) {
	forbidden, invalid := domain.CodeForbidden, domain.CodeValidationFailed
	createIt := domain.CreateRoom{Name: "backend", Department: &deptLink}
	runScenarios(t, domain.AggregateRoom, deptRoomID, []scenario{
		// Creation: the server's alone, at the department's room id; a replay changes nothing.
		{name: "the server creates it", when: deptRoomCmd("c", server, createIt), then: []domain.EventData{deptRoomCreated(), deptRoomLinked()}},
		{name: "a user cannot create it", when: deptRoomCmd("c", alice, createIt), code: forbidden},
		{name: "created again: nothing", given: deptRoom(), when: deptRoomCmd("c2", server, createIt), then: []domain.EventData{}},
		{name: "at another id", when: domain.NewCommand(cid("c"), roomID, server, "system", now, createIt), code: invalid},
		{name: "with a password", when: deptRoomCmd("c", server, domain.CreateRoom{Name: "b", PasswordHash: "$h", Department: &deptLink}), code: invalid},
		{name: "with a NUL in its name", when: deptRoomCmd("c", server, domain.CreateRoom{Name: "b\x00", Department: &deptLink}), code: invalid},
		{name: "with a 10,000-character name", when: deptRoomCmd("c", server, domain.CreateRoom{Name: strings.Repeat("n", 10000), Department: &deptLink}), code: invalid},

		// Syncs: joins and leaves as the department's members change, the mark first.
		{name: "a sync adds and removes", given: deptRoom(),
			when: deptRoomCmd("s", server, domain.SyncDepartmentRoom{SourceVersion: 6, Add: add(carol), Remove: []uuid.UUID{ted}}),
			then: []domain.EventData{synced(6, 0, 1, 1), deptJoined(carol), deptLeft(ted)}},
		{name: "members already in and strangers already out change nothing", given: deptRoom(),
			when: deptRoomCmd("s", server, domain.SyncDepartmentRoom{SourceVersion: 6, Part: 2, Add: add(bob), Remove: []uuid.UUID{carol}}),
			then: []domain.EventData{synced(6, 2, 0, 0)}},
		{name: "a sync at or below the mark is a replay: nothing", given: deptRoom(),
			when: deptRoomCmd("s", server, domain.SyncDepartmentRoom{SourceVersion: 5, Remove: []uuid.UUID{ted}}), then: []domain.EventData{}},
		{name: "an older sync after a newer one: nothing", given: deptRoom(synced(9, 0, 0, 1), deptLeft(ted)),
			when: deptRoomCmd("s", server, domain.SyncDepartmentRoom{SourceVersion: 7, Add: add(ted)}), then: []domain.EventData{}},
		{name: "a later part of the same event", given: deptRoom(),
			when: deptRoomCmd("s", server, domain.SyncDepartmentRoom{SourceVersion: 5, Part: 1, Add: add(carol)}),
			then: []domain.EventData{synced(5, 1, 1, 0), deptJoined(carol)}},
		{name: "a user cannot sync", given: deptRoom(),
			when: deptRoomCmd("s", alice, domain.SyncDepartmentRoom{SourceVersion: 6, Add: add(alice)}), code: forbidden},
		{name: "an ordinary room is not synced", given: []domain.EventData{domain.RoomCreated{RoomID: deptRoomID, Name: "x", OwnerID: alice, CreatedAt: nowUTC}},
			when: deptRoomCmd("s", server, domain.SyncDepartmentRoom{SourceVersion: 6, Add: add(bob)}), code: invalid},
		{name: "a released room is not synced", given: deptRoom(released()),
			when: deptRoomCmd("s", server, domain.SyncDepartmentRoom{SourceVersion: 6, Add: add(carol)}), code: invalid},
		{name: "a user named twice", given: deptRoom(),
			when: deptRoomCmd("s", server, domain.SyncDepartmentRoom{SourceVersion: 6, Add: add(carol), Remove: []uuid.UUID{carol}}), code: invalid},
		{name: "no user", given: deptRoom(),
			when: deptRoomCmd("s", server, domain.SyncDepartmentRoom{SourceVersion: 6, Remove: []uuid.UUID{uuid.Nil}}), code: invalid},
		{name: "a NUL in a name", given: deptRoom(),
			when: deptRoomCmd("s", server, domain.SyncDepartmentRoom{SourceVersion: 6, Add: []domain.ManagedMember{{UserID: carol, Username: "c\x00"}}}), code: invalid},
		{name: "no source", given: deptRoom(), when: deptRoomCmd("s", server, domain.SyncDepartmentRoom{Add: add(carol)}), code: invalid},
		{name: "too many users", given: deptRoom(),
			when: deptRoomCmd("s", server, domain.SyncDepartmentRoom{SourceVersion: 6, Add: manyMembers(domain.MaxSyncMembers + 1)}), code: invalid},

		// Users cannot change the membership of a managed room; they post as anywhere.
		{name: "a member cannot leave", given: deptRoom(), when: deptRoomCmd("l", ted, domain.LeaveRoom{}), code: forbidden},
		{name: "a stranger cannot join", given: deptRoom(), when: deptRoomCmd("j", carol, domain.JoinRoom{}), code: forbidden},
		{name: "a member cannot invite", given: deptRoom(), when: deptRoomCmd("i", ted, domain.InviteUser{UserID: carol}), code: forbidden},
		{name: "nobody kicks", given: deptRoom(), when: deptRoomCmd("k", bob, domain.KickMember{UserID: ted}), code: forbidden},
		{name: "nobody bans", given: deptRoom(), when: deptRoomCmd("b", bob, domain.BanMember{UserID: ted}), code: forbidden},
		{name: "nobody changes roles", given: deptRoom(), when: deptRoomCmd("r", bob, domain.SetRole{UserID: ted, Role: domain.RoleAdmin}), code: forbidden},
		{name: "nobody deletes it", given: deptRoom(), when: deptRoomCmd("d", bob, domain.DeleteRoom{}), code: forbidden},
		{name: "a member posts", given: deptRoom(), when: deptRoomCmd("m", ted, domain.SendMessage{Content: "hi"}),
			then: []domain.EventData{domain.MessageSent{RoomID: deptRoomID, Message: domain.MessageData{ID: domain.MessageIDFor(cid("m")),
				RoomID: deptRoomID, SenderID: ted, Content: "hi", MessageType: domain.MessageText, Seq: 1, CreatedAt: nowUTC}}}},
		{name: "a stranger cannot post", given: deptRoom(), when: deptRoomCmd("m", carol, domain.SendMessage{Content: "hi"}), code: domain.CodeNotAMember},

		// Release: the link ends, the members stay and may leave.
		{name: "the server releases it", given: deptRoom(), when: deptRoomCmd("r", server, domain.ReleaseDepartmentRoom{SourceVersion: 8}),
			then: []domain.EventData{released()}},
		{name: "released again: nothing", given: deptRoom(released()), when: deptRoomCmd("r", server, domain.ReleaseDepartmentRoom{SourceVersion: 8}),
			then: []domain.EventData{}},
		{name: "a user cannot release it", given: deptRoom(), when: deptRoomCmd("r", bob, domain.ReleaseDepartmentRoom{SourceVersion: 8}), code: forbidden},
		{name: "released, a member leaves", given: deptRoom(released()), when: deptRoomCmd("l", ted, domain.LeaveRoom{}),
			then: []domain.EventData{deptLeft(ted)}},
		{name: "released, still nobody joins", given: deptRoom(released()), when: deptRoomCmd("j", carol, domain.JoinRoom{}), code: forbidden},
	})
}

func manyMembers(n int) []domain.ManagedMember {
	out := make([]domain.ManagedMember, n)
	for i := range out {
		out[i] = domain.ManagedMember{UserID: uuid.NewSHA1(testNS, []byte{'m', byte(i >> 8), byte(i)}), Username: "m"}
	}
	return out
}

// A department room's link, release and mark survive a snapshot: restored, it decides as it did.
func TestDepartmentRoomSnapshot(t *testing.T) {
	for _, given := range [][]domain.EventData{deptRoom(), deptRoom(synced(9, 3, 0, 0)), deptRoom(released())} {
		r := build(domain.AggregateRoom, deptRoomID, given...).(*domain.Room)
		back := domain.RestoreRoom(r.Snapshot())
		if *back.Department() != deptLink || back.IsManaged() != r.IsManaged() {
			t.Fatalf("restored link %+v managed %v, want %+v %v", back.Department(), back.IsManaged(), deptLink, r.IsManaged())
		}
		for _, cmd := range []domain.Command{
			deptRoomCmd("s", server, domain.SyncDepartmentRoom{SourceVersion: 9, Part: 3, Add: add(carol)}),
			deptRoomCmd("s2", server, domain.SyncDepartmentRoom{SourceVersion: 9, Part: 4, Add: add(carol)}),
			deptRoomCmd("l", ted, domain.LeaveRoom{}),
		} {
			a, errA := r.Decide(cmd, now)
			b, errB := back.Decide(cmd, now)
			if domain.CodeOf(errA) != domain.CodeOf(errB) || len(a) != len(b) {
				t.Errorf("%s: restored decides %d events, %v; the original %d, %v", cmd.Type, len(b), errB, len(a), errA)
			}
		}
	}
}

// deptRoomSampleData is a sample of every department room event type.
func deptRoomSampleData() map[string]domain.EventData {
	return map[string]domain.EventData{
		"RoomLinkedToDepartment": deptRoomLinked(),
		"RoomMembersSynced":      synced(12, 1, 40, 2),
		"RoomReleased":           released(),
	}
}

// deptRoomSamplePayload is a payload of a department room command type, with every field set.
func deptRoomSamplePayload(typ string) domain.CommandData {
	return map[string]domain.CommandData{
		domain.CmdSyncDepartmentRoom:    domain.SyncDepartmentRoom{SourceVersion: 12, Part: 1, Add: add(bob), Remove: []uuid.UUID{ted}},
		domain.CmdReleaseDepartmentRoom: domain.ReleaseDepartmentRoom{SourceVersion: 13},
	}[typ]
}
