package domain_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// The authorization matrix: every room command by each kind of actor on a private room with a
// password. alice owns it, dave is an admin, bob and ted are plain members, erin has an open
// invitation, frank was a member and is banned, vic is banned, carol is a stranger. ted wrote
// msg1 (seq 1).

type actorKind struct {
	name string
	id   uuid.UUID
}

var matrixActors = []actorKind{
	{"stranger", carol},
	{"invited", erin},
	{"member", bob},
	{"admin", dave},
	{"owner", alice},
	{"banned", frank},
}

func matrixRoom() []domain.EventData {
	return privateRoom(
		joined(bob, domain.RoleMember),
		joined(dave, domain.RoleMember),
		roleChanged(dave, domain.RoleAdmin, alice),
		joined(ted, domain.RoleMember),
		invited(erin, alice),
		joined(frank, domain.RoleMember),
		banned(frank, alice, "spam"),
		banned(vic, alice, ""),
		sentMsg(msg1, ted, 1),
	)
}

// outcome is an expected answer: events (built from the command key and the actor) or a code.
type outcome struct {
	code string
	then func(key string, actor uuid.UUID) []domain.EventData
}

func no(code string) outcome { return outcome{code: code} }

func yes(f func(key string, actor uuid.UUID) []domain.EventData) outcome { return outcome{then: f} }

var (
	forbidden   = no(domain.CodeForbidden)
	notMember   = no(domain.CodeNotAMember)
	already     = no(domain.CodeAlreadyMember)
	wrongPass   = no(domain.CodeWrongPassword)
	invalid     = no(domain.CodeValidationFailed)
	joinsMember = yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(joined(a, domain.RoleMember)) })
)

type matrixRow struct {
	name string
	p    domain.CommandData
	// answers in the order of matrixActors: stranger, invited, member, admin, owner, banned
	want [6]outcome
}

func matrixRows() []matrixRow {
	return []matrixRow{
		{"create_room", domain.CreateRoom{Name: "Again"},
			[6]outcome{invalid, invalid, invalid, invalid, invalid, invalid}},
		{"update_room", domain.UpdateRoom{Name: str("Renamed")},
			[6]outcome{forbidden, forbidden, forbidden,
				yes(func(_ string, a uuid.UUID) []domain.EventData {
					return evs(updatedTo(roomUpdated(str("Renamed"), nil, a), "Renamed", "all things", true, 4))
				}),
				yes(func(_ string, a uuid.UUID) []domain.EventData {
					return evs(updatedTo(roomUpdated(str("Renamed"), nil, a), "Renamed", "all things", true, 4))
				}),
				forbidden}},
		{"delete_room", domain.DeleteRoom{},
			[6]outcome{forbidden, forbidden, forbidden, forbidden,
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(roomDeleted(a)) }),
				forbidden}},
		{"join_room without password", domain.JoinRoom{},
			[6]outcome{wrongPass, joinsMember, already, already, already, forbidden}},
		{"join_room with the room's hash", domain.JoinRoom{PasswordHash: roomHash},
			[6]outcome{joinsMember, joinsMember, already, already, already, forbidden}},
		{"join_room with another hash", domain.JoinRoom{PasswordHash: "$argon2id$other"},
			[6]outcome{wrongPass, joinsMember, already, already, already, forbidden}},
		{"leave_room", domain.LeaveRoom{},
			[6]outcome{notMember, notMember,
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(left(a)) }),
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(left(a)) }),
				forbidden, notMember}},
		{"send_message", domain.SendMessage{Content: "hi"},
			[6]outcome{notMember, notMember,
				yes(func(k string, a uuid.UUID) []domain.EventData {
					return evs(sent(k, a, "hi", domain.MessageText, nil, 2, ""))
				}),
				yes(func(k string, a uuid.UUID) []domain.EventData {
					return evs(sent(k, a, "hi", domain.MessageText, nil, 2, ""))
				}),
				yes(func(k string, a uuid.UUID) []domain.EventData {
					return evs(sent(k, a, "hi", domain.MessageText, nil, 2, ""))
				}),
				notMember}},
		{"send_message system", domain.SendMessage{Content: "hi", MessageType: domain.MessageSystem},
			[6]outcome{notMember, notMember, invalid, invalid, invalid, notMember}},
		{"edit_message of ted's message", domain.EditMessage{MessageID: msg1, Content: "changed"},
			[6]outcome{notMember, notMember, forbidden, forbidden, forbidden, notMember}},
		{"delete_message of ted's message", domain.DeleteMessage{MessageID: msg1},
			[6]outcome{notMember, notMember, forbidden,
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(msgDeleted(msg1, 1, a)) }),
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(msgDeleted(msg1, 1, a)) }),
				notMember}},
		{"mark_read", domain.MarkRead{Seq: 1},
			[6]outcome{notMember, notMember,
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(readMarker(a, 1)) }),
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(readMarker(a, 1)) }),
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(readMarker(a, 1)) }),
				notMember}},
		{"set_role ted admin", domain.SetRole{UserID: ted, Role: domain.RoleAdmin},
			[6]outcome{forbidden, forbidden, forbidden, forbidden,
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(roleChanged(ted, domain.RoleAdmin, a)) }),
				forbidden}},
		{"kick_member ted", domain.KickMember{UserID: ted},
			[6]outcome{forbidden, forbidden, forbidden,
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(kicked(ted, a)) }),
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(kicked(ted, a)) }),
				forbidden}},
		{"ban_member ted", domain.BanMember{UserID: ted, Reason: "rude"},
			[6]outcome{forbidden, forbidden, forbidden,
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(banned(ted, a, "rude")) }),
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(banned(ted, a, "rude")) }),
				forbidden}},
		{"unban_member vic", domain.UnbanMember{UserID: vic},
			[6]outcome{forbidden, forbidden, forbidden,
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(unbanned(vic, a)) }),
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(unbanned(vic, a)) }),
				forbidden}},
		{"invite_user uma", domain.InviteUser{UserID: uma},
			[6]outcome{forbidden, forbidden, forbidden,
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(invited(uma, a)) }),
				yes(func(_ string, a uuid.UUID) []domain.EventData { return evs(invited(uma, a)) }),
				forbidden}},
		// The server's alone (room_department_test.go), and on a department's room only.
		{"sync_department_room", domain.SyncDepartmentRoom{SourceVersion: 1, Add: add(uma)},
			[6]outcome{forbidden, forbidden, forbidden, forbidden, forbidden, forbidden}},
		{"release_department_room", domain.ReleaseDepartmentRoom{SourceVersion: 1},
			[6]outcome{forbidden, forbidden, forbidden, forbidden, forbidden, forbidden}},
	}
}

func TestRoomAuthorizationMatrix(t *testing.T) {
	var cases []scenario
	for _, row := range matrixRows() {
		for i, a := range matrixActors {
			key := "mx/" + row.name + "/" + a.name
			w := row.want[i]
			sc := scenario{name: row.name + " by " + a.name, given: matrixRoom(), when: roomCmd(key, a.id, row.p), code: w.code}
			if w.code == "" {
				sc.then = w.then(key, a.id)
			}
			cases = append(cases, sc)
		}
	}
	runScenarios(t, domain.AggregateRoom, roomID, cases)
}

// After RoomDeleted every command, by anyone, create included, is room_deleted.
func TestRoomDeletedMatrix(t *testing.T) {
	var cases []scenario
	for _, row := range matrixRows() {
		for _, a := range append(matrixActors, actorKind{"server", domain.SystemActorID}) {
			cases = append(cases, scenario{
				name:  row.name + " by " + a.name,
				given: append(matrixRoom(), roomDeleted(alice)),
				when:  roomCmd("del/"+row.name+"/"+a.name, a.id, row.p),
				code:  domain.CodeRoomDeleted,
			})
		}
	}
	// Also a deleted room that never had anything but its owner.
	cases = append(cases,
		scenario{name: "create on a bare deleted room", given: publicRoom(roomDeleted(alice)),
			when: roomCmd("del/bare", alice, domain.CreateRoom{Name: "General"}), code: domain.CodeRoomDeleted},
		scenario{name: "system message on a deleted room", given: publicRoom(roomDeleted(alice)),
			when: roomCmd("del/sys", domain.SystemActorID, domain.SendMessage{Content: "x", MessageType: domain.MessageSystem}),
			code: domain.CodeRoomDeleted},
		scenario{name: "foreign command on a deleted room", given: publicRoom(roomDeleted(alice)),
			when: roomCmd("del/foreign", alice, domain.RegisterUser{Username: "alice"}), code: domain.CodeRoomDeleted},
	)
	runScenarios(t, domain.AggregateRoom, roomID, cases)
}

// Before RoomCreated every command but create is room_not_found.
func TestRoomNotFoundMatrix(t *testing.T) {
	var cases []scenario
	for _, row := range matrixRows() {
		if _, ok := row.p.(domain.CreateRoom); ok {
			continue
		}
		for _, a := range append(matrixActors, actorKind{"server", domain.SystemActorID}) {
			cases = append(cases, scenario{
				name: row.name + " by " + a.name,
				when: roomCmd("nf/"+row.name+"/"+a.name, a.id, row.p),
				code: domain.CodeRoomNotFound,
			})
		}
	}
	runScenarios(t, domain.AggregateRoom, roomID, cases)
}

// Every command type of a room appears in the matrix.
func TestRoomMatrixCoversEveryRoomCommand(t *testing.T) {
	seen := map[string]bool{}
	for _, row := range matrixRows() {
		seen[row.p.CommandType()] = true
	}
	for _, c := range allCommandTypes {
		if domain.AggregateTypeOf(samplePayload(c)) != domain.AggregateRoom {
			continue
		}
		if !seen[c] {
			t.Errorf("room command %s is not in the authorization matrix", c)
		}
	}
}
