package domain_test

import (
	"strings"
	"testing"

	"github.com/chorus-chat/chorus/domain"
)

// withStaff is a public room owned by alice with dave as admin and bob as a plain member.
func withStaff(more ...domain.EventData) []domain.EventData {
	return publicRoom(append(evs(
		joined(dave, domain.RoleMember), roleChanged(dave, domain.RoleAdmin, alice),
		joined(bob, domain.RoleMember),
	), more...)...)
}

func TestRoomUpdate(t *testing.T) {
	cjk100 := strings.Repeat("界", 100)
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{name: "owner renames: only the name is in the event",
			given: withStaff(), when: roomCmd("u1", alice, domain.UpdateRoom{Name: str("Lounge")}),
			then: evs(updatedTo(roomUpdated(str("Lounge"), nil, alice), "Lounge", "all things", false, 3))},
		{name: "admin changes the description only",
			given: withStaff(), when: roomCmd("u2", dave, domain.UpdateRoom{Description: str("new topic")}),
			then: evs(updatedTo(roomUpdated(nil, str("new topic"), dave), "General", "new topic", false, 3))},
		{name: "both, stored trimmed",
			given: withStaff(), when: roomCmd("u3", alice, domain.UpdateRoom{Name: str("  Lounge \n"), Description: str("\t about  ")}),
			then: evs(updatedTo(roomUpdated(str("Lounge"), str("about"), alice), "Lounge", "about", false, 3))},
		{name: "empty description clears it",
			given: withStaff(), when: roomCmd("u4", alice, domain.UpdateRoom{Description: str("  ")}),
			then: evs(updatedTo(roomUpdated(nil, str(""), alice), "General", "", false, 3))},
		{name: "name of 100 characters ok",
			given: withStaff(), when: roomCmd("u5", alice, domain.UpdateRoom{Name: str(cjk100)}),
			then: evs(updatedTo(roomUpdated(str(cjk100), nil, alice), cjk100, "all things", false, 3))},
		{name: "same values again are accepted",
			given: withStaff(roomUpdated(str("Lounge"), nil, alice)), when: roomCmd("u6", alice, domain.UpdateRoom{Name: str("Lounge")}),
			then: evs(updatedTo(roomUpdated(str("Lounge"), nil, alice), "Lounge", "all things", false, 3))},
		{name: "private room: admin updates",
			given: privateRoom(joined(dave, domain.RoleMember), roleChanged(dave, domain.RoleAdmin, alice)),
			when:  roomCmd("u7", dave, domain.UpdateRoom{Name: str("Hush")}),
			then:  evs(updatedTo(roomUpdated(str("Hush"), nil, dave), "Hush", "all things", true, 2))},
		{name: "the state is the room's after earlier changes, with the current member count",
			given: withStaff(roomUpdated(nil, str("older topic"), dave), joined(ted, domain.RoleMember), joined(carol, domain.RoleMember), kicked(ted, dave), left(bob)),
			when:  roomCmd("u7b", alice, domain.UpdateRoom{Name: str("Lounge")}),
			then:  evs(updatedTo(roomUpdated(str("Lounge"), nil, alice), "Lounge", "older topic", false, 3))},
		{name: "nothing given: validation_failed",
			given: withStaff(), when: roomCmd("u8", alice, domain.UpdateRoom{}), code: domain.CodeValidationFailed},
		{name: "empty name: validation_failed",
			given: withStaff(), when: roomCmd("u9", alice, domain.UpdateRoom{Name: str("")}), code: domain.CodeValidationFailed},
		{name: "whitespace name: validation_failed",
			given: withStaff(), when: roomCmd("u10", alice, domain.UpdateRoom{Name: str(" \u3000 ")}), code: domain.CodeValidationFailed},
		{name: "name of 101 characters: validation_failed",
			given: withStaff(), when: roomCmd("u11", alice, domain.UpdateRoom{Name: str(cjk100 + "x")}), code: domain.CodeValidationFailed},
		{name: "description of 1001 characters: validation_failed",
			given: withStaff(), when: roomCmd("u12", alice, domain.UpdateRoom{Description: str(strings.Repeat("é", 1001))}), code: domain.CodeValidationFailed},
		{name: "invalid UTF-8 name: validation_failed",
			given: withStaff(), when: roomCmd("u13", alice, domain.UpdateRoom{Name: str("ok\xff")}), code: domain.CodeValidationFailed},
		{name: "a valid name with an invalid description is refused whole",
			given: withStaff(), when: roomCmd("u14", alice, domain.UpdateRoom{Name: str("Fine"), Description: str(strings.Repeat("x", 1001))}), code: domain.CodeValidationFailed},
		{name: "plain member: forbidden",
			given: withStaff(), when: roomCmd("u15", bob, domain.UpdateRoom{Name: str("Mine")}), code: domain.CodeForbidden},
		{name: "stranger: forbidden",
			given: withStaff(), when: roomCmd("u16", carol, domain.UpdateRoom{Name: str("Mine")}), code: domain.CodeForbidden},
		{name: "authority is checked before validation",
			given: withStaff(), when: roomCmd("u17", bob, domain.UpdateRoom{}), code: domain.CodeForbidden},
		{name: "demoted admin: forbidden",
			given: withStaff(roleChanged(dave, domain.RoleMember, alice)), when: roomCmd("u18", dave, domain.UpdateRoom{Name: str("x")}), code: domain.CodeForbidden},
	})
}

func TestRoomDelete(t *testing.T) {
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{name: "owner deletes", given: withStaff(sentMsg(msg1, bob, 1)), when: roomCmd("d1", alice, domain.DeleteRoom{}),
			then: evs(roomDeleted(alice))},
		{name: "owner deletes a private room", given: privateRoom(), when: roomCmd("d2", alice, domain.DeleteRoom{}),
			then: evs(roomDeleted(alice))},
		{name: "admin: forbidden", given: withStaff(), when: roomCmd("d3", dave, domain.DeleteRoom{}), code: domain.CodeForbidden},
		{name: "member: forbidden", given: withStaff(), when: roomCmd("d4", bob, domain.DeleteRoom{}), code: domain.CodeForbidden},
		{name: "stranger: forbidden", given: withStaff(), when: roomCmd("d5", carol, domain.DeleteRoom{}), code: domain.CodeForbidden},
		{name: "twice: room_deleted", given: withStaff(roomDeleted(alice)), when: roomCmd("d6", alice, domain.DeleteRoom{}), code: domain.CodeRoomDeleted},
		{name: "not created: room_not_found", when: roomCmd("d7", alice, domain.DeleteRoom{}), code: domain.CodeRoomNotFound},
	})
}

func TestRoomJoinRules(t *testing.T) {
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{name: "public room: a password hash in the command is ignored",
			given: publicRoom(), when: roomCmd("jr1", bob, domain.JoinRoom{PasswordHash: "whatever"}),
			then: evs(joined(bob, domain.RoleMember))},
		{name: "private with password: the room's hash joins",
			given: privateRoom(), when: roomCmd("jr2", bob, domain.JoinRoom{PasswordHash: roomHash}),
			then: evs(joined(bob, domain.RoleMember))},
		{name: "private with password: another hash is wrong_password",
			given: privateRoom(), when: roomCmd("jr3", bob, domain.JoinRoom{PasswordHash: roomHash + "x"}),
			code: domain.CodeWrongPassword},
		{name: "private with password: a prefix of the hash is wrong_password",
			given: privateRoom(), when: roomCmd("jr4", bob, domain.JoinRoom{PasswordHash: roomHash[:10]}),
			code: domain.CodeWrongPassword},
		{name: "private with password: no hash is wrong_password",
			given: privateRoom(), when: roomCmd("jr5", bob, domain.JoinRoom{}),
			code: domain.CodeWrongPassword},
		{name: "private with password: an invitation joins without the hash",
			given: privateRoom(invited(bob, alice)), when: roomCmd("jr6", bob, domain.JoinRoom{}),
			then: evs(joined(bob, domain.RoleMember))},
		{name: "private with password: an invitation joins even with a wrong hash",
			given: privateRoom(invited(bob, alice)), when: roomCmd("jr7", bob, domain.JoinRoom{PasswordHash: "nope"}),
			then: evs(joined(bob, domain.RoleMember))},
		{name: "invite-only: an invitation joins",
			given: inviteOnlyRoom(invited(bob, alice)), when: roomCmd("jr8", bob, domain.JoinRoom{}),
			then: evs(joined(bob, domain.RoleMember))},
		{name: "invite-only: no invitation is forbidden",
			given: inviteOnlyRoom(), when: roomCmd("jr9", bob, domain.JoinRoom{}),
			code: domain.CodeForbidden},
		{name: "invite-only: a hash does not help (the room has no password)",
			given: inviteOnlyRoom(), when: roomCmd("jr10", bob, domain.JoinRoom{PasswordHash: roomHash}),
			code: domain.CodeForbidden},
		{name: "invite-only: an empty hash does not match the empty password",
			given: inviteOnlyRoom(), when: roomCmd("jr11", bob, domain.JoinRoom{PasswordHash: ""}),
			code: domain.CodeForbidden},
		{name: "invite-only: another user's invitation does not help",
			given: inviteOnlyRoom(invited(carol, alice)), when: roomCmd("jr12", bob, domain.JoinRoom{}),
			code: domain.CodeForbidden},
		{name: "the invitation is consumed by the join: after leaving, no way back in",
			given: inviteOnlyRoom(invited(bob, alice), joined(bob, domain.RoleMember), left(bob)),
			when:  roomCmd("jr13", bob, domain.JoinRoom{}),
			code:  domain.CodeForbidden},
		{name: "banned from a public room: forbidden",
			given: publicRoom(banned(bob, alice, "")), when: roomCmd("jr14", bob, domain.JoinRoom{}),
			code: domain.CodeForbidden},
		{name: "banned, with the right hash: forbidden",
			given: privateRoom(banned(bob, alice, "")), when: roomCmd("jr15", bob, domain.JoinRoom{PasswordHash: roomHash}),
			code: domain.CodeForbidden},
		{name: "banned member (membership ended by the ban): forbidden, not already_member",
			given: publicRoom(joined(bob, domain.RoleMember), banned(bob, alice, "")), when: roomCmd("jr16", bob, domain.JoinRoom{}),
			code: domain.CodeForbidden},
		{name: "unbanned: joins a public room again",
			given: publicRoom(joined(bob, domain.RoleMember), banned(bob, alice, ""), unbanned(bob, alice)),
			when:  roomCmd("jr17", bob, domain.JoinRoom{}),
			then:  evs(joined(bob, domain.RoleMember))},
		{name: "unbanned: a private room still asks for the password",
			given: privateRoom(banned(bob, alice, ""), unbanned(bob, alice)),
			when:  roomCmd("jr18", bob, domain.JoinRoom{}),
			code:  domain.CodeWrongPassword},
		{name: "kicked: may join a public room again",
			given: publicRoom(joined(bob, domain.RoleMember), kicked(bob, alice)),
			when:  roomCmd("jr19", bob, domain.JoinRoom{}),
			then:  evs(joined(bob, domain.RoleMember))},
		{name: "a rejoining former admin is a plain member",
			given: publicRoom(joined(dave, domain.RoleMember), roleChanged(dave, domain.RoleAdmin, alice), left(dave)),
			when:  roomCmd("jr20", dave, domain.JoinRoom{}),
			then:  evs(joined(dave, domain.RoleMember))},
		{name: "deleted room: room_deleted",
			given: publicRoom(roomDeleted(alice)), when: roomCmd("jr21", bob, domain.JoinRoom{}),
			code: domain.CodeRoomDeleted},
	})
}

// The ban refusal says why.
func TestRoomJoinBannedMessage(t *testing.T) {
	r := roomOf(t, publicRoom(banned(bob, alice, "spam"))...)
	_, err := r.Decide(roomCmd("jbm", bob, domain.JoinRoom{}), now)
	if domain.CodeOf(err) != domain.CodeForbidden || !strings.Contains(err.Error(), "banned") {
		t.Errorf("want forbidden saying banned, got %v", err)
	}
	r = roomOf(t, inviteOnlyRoom()...)
	_, err = r.Decide(roomCmd("jio", bob, domain.JoinRoom{}), now)
	if domain.CodeOf(err) != domain.CodeForbidden || !strings.Contains(err.Error(), "invitation") {
		t.Errorf("want forbidden saying invitation only, got %v", err)
	}
}

func TestRoomLeaveRules(t *testing.T) {
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{name: "owner: forbidden", given: withStaff(), when: roomCmd("lr1", alice, domain.LeaveRoom{}), code: domain.CodeForbidden},
		{name: "owner of a private room: forbidden", given: privateRoom(), when: roomCmd("lr2", alice, domain.LeaveRoom{}), code: domain.CodeForbidden},
		{name: "admin leaves", given: withStaff(), when: roomCmd("lr3", dave, domain.LeaveRoom{}), then: evs(left(dave))},
		{name: "stranger: not_a_member", given: withStaff(), when: roomCmd("lr4", carol, domain.LeaveRoom{}), code: domain.CodeNotAMember},
		{name: "kicked: not_a_member", given: withStaff(kicked(bob, alice)), when: roomCmd("lr5", bob, domain.LeaveRoom{}), code: domain.CodeNotAMember},
		{name: "banned: not_a_member", given: withStaff(banned(bob, alice, "")), when: roomCmd("lr6", bob, domain.LeaveRoom{}), code: domain.CodeNotAMember},
	})
}

func TestRoomSetRole(t *testing.T) {
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{name: "owner makes a member admin", given: withStaff(), when: roomCmd("r1", alice, domain.SetRole{UserID: bob, Role: domain.RoleAdmin}),
			then: evs(roleChanged(bob, domain.RoleAdmin, alice))},
		{name: "owner makes an admin a member again", given: withStaff(), when: roomCmd("r2", alice, domain.SetRole{UserID: dave, Role: domain.RoleMember}),
			then: evs(roleChanged(dave, domain.RoleMember, alice))},
		{name: "admin: forbidden", given: withStaff(), when: roomCmd("r3", dave, domain.SetRole{UserID: bob, Role: domain.RoleAdmin}), code: domain.CodeForbidden},
		{name: "admin demoting himself: forbidden", given: withStaff(), when: roomCmd("r4", dave, domain.SetRole{UserID: dave, Role: domain.RoleMember}), code: domain.CodeForbidden},
		{name: "member promoting himself: forbidden", given: withStaff(), when: roomCmd("r5", bob, domain.SetRole{UserID: bob, Role: domain.RoleAdmin}), code: domain.CodeForbidden},
		{name: "stranger: forbidden", given: withStaff(), when: roomCmd("r6", carol, domain.SetRole{UserID: bob, Role: domain.RoleAdmin}), code: domain.CodeForbidden},
		{name: "role owner: validation_failed (no ownership transfer)", given: withStaff(), when: roomCmd("r7", alice, domain.SetRole{UserID: bob, Role: domain.RoleOwner}), code: domain.CodeValidationFailed},
		{name: "empty role: validation_failed", given: withStaff(), when: roomCmd("r8", alice, domain.SetRole{UserID: bob}), code: domain.CodeValidationFailed},
		{name: "role is case-sensitive", given: withStaff(), when: roomCmd("r9", alice, domain.SetRole{UserID: bob, Role: "Admin"}), code: domain.CodeValidationFailed},
		{name: "unknown role: validation_failed", given: withStaff(), when: roomCmd("r10", alice, domain.SetRole{UserID: bob, Role: "moderator"}), code: domain.CodeValidationFailed},
		{name: "target not a member: not_a_member", given: withStaff(), when: roomCmd("r11", alice, domain.SetRole{UserID: carol, Role: domain.RoleAdmin}), code: domain.CodeNotAMember},
		{name: "target left: not_a_member", given: withStaff(left(bob)), when: roomCmd("r12", alice, domain.SetRole{UserID: bob, Role: domain.RoleAdmin}), code: domain.CodeNotAMember},
		{name: "target is the owner: forbidden", given: withStaff(), when: roomCmd("r13", alice, domain.SetRole{UserID: alice, Role: domain.RoleMember}), code: domain.CodeForbidden},
		{name: "same role (member): validation_failed", given: withStaff(), when: roomCmd("r14", alice, domain.SetRole{UserID: bob, Role: domain.RoleMember}), code: domain.CodeValidationFailed},
		{name: "same role (admin): validation_failed", given: withStaff(), when: roomCmd("r15", alice, domain.SetRole{UserID: dave, Role: domain.RoleAdmin}), code: domain.CodeValidationFailed},
	})
}

func TestRoomKick(t *testing.T) {
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{name: "owner kicks a member", given: withStaff(), when: roomCmd("k1", alice, domain.KickMember{UserID: bob}), then: evs(kicked(bob, alice))},
		{name: "owner kicks an admin", given: withStaff(), when: roomCmd("k2", alice, domain.KickMember{UserID: dave}), then: evs(kicked(dave, alice))},
		{name: "admin kicks a member", given: withStaff(), when: roomCmd("k3", dave, domain.KickMember{UserID: bob}), then: evs(kicked(bob, dave))},
		{name: "admin kicks another admin: forbidden",
			given: withStaff(joined(ted, domain.RoleMember), roleChanged(ted, domain.RoleAdmin, alice)),
			when:  roomCmd("k4", dave, domain.KickMember{UserID: ted}), code: domain.CodeForbidden},
		{name: "admin kicks the owner: forbidden", given: withStaff(), when: roomCmd("k5", dave, domain.KickMember{UserID: alice}), code: domain.CodeForbidden},
		{name: "admin kicks himself: forbidden", given: withStaff(), when: roomCmd("k6", dave, domain.KickMember{UserID: dave}), code: domain.CodeForbidden},
		{name: "owner kicks himself: forbidden", given: withStaff(), when: roomCmd("k7", alice, domain.KickMember{UserID: alice}), code: domain.CodeForbidden},
		{name: "member kicks a member: forbidden", given: withStaff(joined(ted, domain.RoleMember)), when: roomCmd("k8", bob, domain.KickMember{UserID: ted}), code: domain.CodeForbidden},
		{name: "member kicks himself: forbidden", given: withStaff(), when: roomCmd("k9", bob, domain.KickMember{UserID: bob}), code: domain.CodeForbidden},
		{name: "stranger: forbidden", given: withStaff(), when: roomCmd("k10", carol, domain.KickMember{UserID: bob}), code: domain.CodeForbidden},
		{name: "member kicking a stranger: forbidden (authority first)", given: withStaff(), when: roomCmd("k11", bob, domain.KickMember{UserID: carol}), code: domain.CodeForbidden},
		{name: "target not a member: not_a_member", given: withStaff(), when: roomCmd("k12", alice, domain.KickMember{UserID: carol}), code: domain.CodeNotAMember},
		{name: "target already kicked: not_a_member", given: withStaff(kicked(bob, alice)), when: roomCmd("k13", dave, domain.KickMember{UserID: bob}), code: domain.CodeNotAMember},
		{name: "kicked member cannot send", given: withStaff(kicked(bob, alice)), when: roomCmd("k14", bob, domain.SendMessage{Content: "hey"}), code: domain.CodeNotAMember},
		{name: "demoted admin cannot kick", given: withStaff(roleChanged(dave, domain.RoleMember, alice)), when: roomCmd("k15", dave, domain.KickMember{UserID: bob}), code: domain.CodeForbidden},
		{name: "promoted member can kick", given: withStaff(joined(ted, domain.RoleMember), roleChanged(bob, domain.RoleAdmin, alice)),
			when: roomCmd("k16", bob, domain.KickMember{UserID: ted}), then: evs(kicked(ted, bob))},
		{name: "the kicked member is named as they joined",
			given: withStaff(domain.UserJoinedRoom{RoomID: roomID, UserID: carol, Username: "Carol.C", Role: domain.RoleMember, JoinedAt: nowUTC}),
			when:  roomCmd("k17", dave, domain.KickMember{UserID: carol}),
			then:  evs(domain.MemberKicked{RoomID: roomID, UserID: carol, Username: "Carol.C", KickedBy: dave})},
	})
}

func TestRoomBan(t *testing.T) {
	reason500 := strings.Repeat("é", 500)
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{name: "owner bans a member", given: withStaff(), when: roomCmd("b1", alice, domain.BanMember{UserID: bob, Reason: "spam"}), then: evs(banned(bob, alice, "spam"))},
		{name: "owner bans an admin", given: withStaff(), when: roomCmd("b2", alice, domain.BanMember{UserID: dave}), then: evs(banned(dave, alice, ""))},
		{name: "admin bans a member", given: withStaff(), when: roomCmd("b3", dave, domain.BanMember{UserID: bob}), then: evs(banned(bob, dave, ""))},
		{name: "admin bans a non-member ahead of time", given: withStaff(), when: roomCmd("b4", dave, domain.BanMember{UserID: carol}), then: evs(bannedOutsider(carol, dave, ""))},
		{name: "owner bans a former member", given: withStaff(left(bob)), when: roomCmd("b5", alice, domain.BanMember{UserID: bob}), then: evs(bannedOutsider(bob, alice, ""))},
		{name: "a member who joined again is named by their latest join",
			given: withStaff(left(bob), domain.UserJoinedRoom{RoomID: roomID, UserID: bob, Username: "Bobby", Role: domain.RoleMember, JoinedAt: nowUTC}),
			when:  roomCmd("b5b", alice, domain.BanMember{UserID: bob}),
			then:  evs(domain.UserBanned{RoomID: roomID, UserID: bob, Username: "Bobby", WasMember: true, BannedBy: alice})},
		{name: "reason stored trimmed", given: withStaff(), when: roomCmd("b6", alice, domain.BanMember{UserID: bob, Reason: "  flood \n"}), then: evs(banned(bob, alice, "flood"))},
		{name: "reason of 500 characters ok", given: withStaff(), when: roomCmd("b7", alice, domain.BanMember{UserID: bob, Reason: reason500}), then: evs(banned(bob, alice, reason500))},
		{name: "reason of 501 characters: validation_failed", given: withStaff(), when: roomCmd("b8", alice, domain.BanMember{UserID: bob, Reason: reason500 + "x"}), code: domain.CodeValidationFailed},
		{name: "reason not UTF-8: validation_failed", given: withStaff(), when: roomCmd("b9", alice, domain.BanMember{UserID: bob, Reason: "\xff"}), code: domain.CodeValidationFailed},
		{name: "admin bans an admin: forbidden",
			given: withStaff(joined(ted, domain.RoleMember), roleChanged(ted, domain.RoleAdmin, alice)),
			when:  roomCmd("b10", dave, domain.BanMember{UserID: ted}), code: domain.CodeForbidden},
		{name: "admin bans the owner: forbidden", given: withStaff(), when: roomCmd("b11", dave, domain.BanMember{UserID: alice}), code: domain.CodeForbidden},
		{name: "owner bans himself: forbidden", given: withStaff(), when: roomCmd("b12", alice, domain.BanMember{UserID: alice}), code: domain.CodeForbidden},
		{name: "member bans: forbidden", given: withStaff(), when: roomCmd("b13", bob, domain.BanMember{UserID: carol}), code: domain.CodeForbidden},
		{name: "stranger bans: forbidden", given: withStaff(), when: roomCmd("b14", carol, domain.BanMember{UserID: bob}), code: domain.CodeForbidden},
		{name: "banning twice: validation_failed", given: withStaff(banned(bob, alice, "")), when: roomCmd("b15", dave, domain.BanMember{UserID: bob}), code: domain.CodeValidationFailed},
		{name: "nil user: validation_failed", given: withStaff(), when: roomCmd("b16", alice, domain.BanMember{}), code: domain.CodeValidationFailed},
		{name: "banned member cannot send", given: withStaff(banned(bob, alice, "")), when: roomCmd("b17", bob, domain.SendMessage{Content: "x"}), code: domain.CodeNotAMember},
		{name: "a ban cancels an open invitation",
			given: inviteOnlyRoom(invited(bob, alice), banned(bob, alice, ""), unbanned(bob, alice)),
			when:  roomCmd("b18", bob, domain.JoinRoom{}), code: domain.CodeForbidden},
		{name: "banned again after an unban", given: withStaff(banned(bob, alice, ""), unbanned(bob, alice)),
			when: roomCmd("b19", alice, domain.BanMember{UserID: bob}), then: evs(bannedOutsider(bob, alice, ""))},
	})
}

func TestRoomUnban(t *testing.T) {
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{name: "owner unbans", given: withStaff(banned(carol, alice, "")), when: roomCmd("ub1", alice, domain.UnbanMember{UserID: carol}), then: evs(unbanned(carol, alice))},
		{name: "admin unbans (whoever banned)", given: withStaff(banned(carol, alice, "")), when: roomCmd("ub2", dave, domain.UnbanMember{UserID: carol}), then: evs(unbanned(carol, dave))},
		{name: "member: forbidden", given: withStaff(banned(carol, alice, "")), when: roomCmd("ub3", bob, domain.UnbanMember{UserID: carol}), code: domain.CodeForbidden},
		{name: "the banned user himself: forbidden", given: withStaff(banned(carol, alice, "")), when: roomCmd("ub4", carol, domain.UnbanMember{UserID: carol}), code: domain.CodeForbidden},
		{name: "not banned: validation_failed", given: withStaff(), when: roomCmd("ub5", alice, domain.UnbanMember{UserID: carol}), code: domain.CodeValidationFailed},
		{name: "unbanned twice: validation_failed", given: withStaff(banned(carol, alice, ""), unbanned(carol, alice)), when: roomCmd("ub6", alice, domain.UnbanMember{UserID: carol}), code: domain.CodeValidationFailed},
	})
}

func TestRoomInvite(t *testing.T) {
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{name: "public room: a plain member invites", given: withStaff(), when: roomCmd("i1", bob, domain.InviteUser{UserID: carol}), then: evs(invited(carol, bob))},
		{name: "public room: admin invites", given: withStaff(), when: roomCmd("i2", dave, domain.InviteUser{UserID: carol}), then: evs(invited(carol, dave))},
		{name: "public room: owner invites", given: withStaff(), when: roomCmd("i3", alice, domain.InviteUser{UserID: carol}), then: evs(invited(carol, alice))},
		{name: "public room: stranger: forbidden", given: withStaff(), when: roomCmd("i4", carol, domain.InviteUser{UserID: uma}), code: domain.CodeForbidden},
		{name: "private room: owner invites", given: privateRoom(), when: roomCmd("i5", alice, domain.InviteUser{UserID: carol}), then: evs(invited(carol, alice))},
		{name: "private room: admin invites",
			given: privateRoom(joined(dave, domain.RoleMember), roleChanged(dave, domain.RoleAdmin, alice)),
			when:  roomCmd("i6", dave, domain.InviteUser{UserID: carol}), then: evs(invited(carol, dave))},
		{name: "private room: plain member: forbidden", given: privateRoom(joined(bob, domain.RoleMember)), when: roomCmd("i7", bob, domain.InviteUser{UserID: carol}), code: domain.CodeForbidden},
		{name: "invitee already a member: already_member", given: withStaff(), when: roomCmd("i8", alice, domain.InviteUser{UserID: bob}), code: domain.CodeAlreadyMember},
		{name: "inviting oneself: already_member", given: withStaff(), when: roomCmd("i9", bob, domain.InviteUser{UserID: bob}), code: domain.CodeAlreadyMember},
		{name: "invitee banned: forbidden", given: withStaff(banned(carol, alice, "")), when: roomCmd("i10", alice, domain.InviteUser{UserID: carol}), code: domain.CodeForbidden},
		{name: "invitee already invited: validation_failed", given: withStaff(invited(carol, bob)), when: roomCmd("i11", alice, domain.InviteUser{UserID: carol}), code: domain.CodeValidationFailed},
		{name: "nil invitee: validation_failed", given: withStaff(), when: roomCmd("i12", alice, domain.InviteUser{}), code: domain.CodeValidationFailed},
		{name: "invited again after the invitation was used and the user left",
			given: inviteOnlyRoom(invited(bob, alice), joined(bob, domain.RoleMember), left(bob)),
			when:  roomCmd("i13", alice, domain.InviteUser{UserID: bob}), then: evs(invited(bob, alice))},
		{name: "invited after being unbanned", given: withStaff(banned(carol, alice, ""), unbanned(carol, alice)),
			when: roomCmd("i14", alice, domain.InviteUser{UserID: carol}), then: evs(invited(carol, alice))},
	})
}
