package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

func TestRoomSendAttachments(t *testing.T) {
	long := "https://x.example/" + strings.Repeat("a", domain.MaxURLLength-len("https://x.example/"))
	valid := []string{
		"https://x/cat.png",
		"http://example.com",
		"HTTPS://EXAMPLE.COM/A.PNG",
		"https://example.com:8443/a/b.pdf?download=1#p2",
		"http://[::1]/x.png",
		"https://例え.jp/画像.png",
		long,
		`{"url":"https://x/a.pdf"}`,
		`{"url":"https://x/a.pdf","name":"a.pdf","mime":"application/pdf","size":1234}`,
		`{ "name": "cat.png", "url": "https://x/cat.png", "width": 640, "height": 480, "size": 0 }`,
		`{"url":"https://x/a","size":1.5e3,"alt":"a cat","sha256":"abc"}`,
		`{"url":"https:\/\/x\/escaped"}`,
	}
	invalid := []string{
		"report.pdf",
		"cat",
		"/relative/path.png",
		"//x/protocol-relative.png",
		"ftp://x/y",
		"file:///etc/passwd",
		"mailto:a@b.example",
		"javascript:alert(1)",
		"data:image/png;base64,AAAA",
		"https:x",
		"https://",
		"https:///path",
		"https://:80/x",
		"https://exa mple.com/x",
		"https://x/a\tb",
		long + "a",
		`{}`,
		`{"name":"a.pdf"}`,
		`{"url":5}`,
		`{"url":null}`,
		`{"url":""}`,
		`{"url":"ftp://x/a"}`,
		`{"url":"report.pdf"}`,
		`{"url":"https://x","size":"12"}`,
		`{"url":"https://x","size":-1}`,
		`{"url":"https://x","size":null}`,
		`{"url":"https://x","width":true}`,
		`{"url":"https://x","name":5}`,
		`{"url":"https://x","name":null}`,
		`{"url":"https://x","meta":{"a":1}}`,
		`{"url":"https://x","tags":["a"]}`,
		`{"url":"https://x","url":"https://y"}`,
		`{"url":"https://x"} trailing`,
		`{"url":"https://x"}{}`,
		`{"url":"https://x",}`,
		`{"url":`,
		`["https://x"]`,
		`"https://x"`,
	}
	var cases []scenario
	for i, c := range valid {
		for _, mt := range []string{domain.MessageImage, domain.MessageFile} {
			key := "att-ok/" + mt + "/" + string(rune('a'+i))
			cases = append(cases, scenario{
				name: mt + " accepts " + c, given: publicRoom(),
				when: roomCmd(key, alice, domain.SendMessage{Content: c, MessageType: mt}),
				then: evs(sent(key, alice, c, mt, nil, 1, "")),
			})
		}
	}
	for i, c := range invalid {
		for _, mt := range []string{domain.MessageImage, domain.MessageFile} {
			cases = append(cases, scenario{
				name: mt + " refuses " + c, given: publicRoom(),
				when: roomCmd("att-no/"+mt+"/"+string(rune('a'+i)), alice, domain.SendMessage{Content: c, MessageType: mt}),
				code: domain.CodeValidationFailed,
			})
		}
	}
	cases = append(cases,
		scenario{name: "the URL is trimmed", given: publicRoom(),
			when: roomCmd("att-trim", alice, domain.SendMessage{Content: "  https://x/cat.png \n", MessageType: domain.MessageImage}),
			then: evs(sent("att-trim", alice, "https://x/cat.png", domain.MessageImage, nil, 1, ""))},
		scenario{name: "text may be anything", given: publicRoom(),
			when: roomCmd("att-text", alice, domain.SendMessage{Content: "report.pdf"}),
			then: evs(sent("att-text", alice, "report.pdf", domain.MessageText, nil, 1, ""))},
		scenario{name: "an attachment is still limited to 4000 characters", given: publicRoom(),
			when: roomCmd("att-len", alice, domain.SendMessage{Content: `{"url":"https://x/a","name":"` + strings.Repeat("n", 4000) + `"}`, MessageType: domain.MessageFile}),
			code: domain.CodeValidationFailed},
	)
	runScenarios(t, domain.AggregateRoom, roomID, cases)
}

func TestRoomSendSystem(t *testing.T) {
	sys := domain.SystemActorID
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{name: "the server sends a system message without being a member", given: publicRoom(),
			when: roomCmd("sys1", sys, domain.SendMessage{Content: " bob joined ", MessageType: domain.MessageSystem}),
			then: evs(sent("sys1", sys, "bob joined", domain.MessageSystem, nil, 1, ""))},
		{name: "to a private room too", given: privateRoom(sentMsg(msg1, alice, 1)),
			when: roomCmd("sys2", sys, domain.SendMessage{Content: "maintenance at noon", MessageType: domain.MessageSystem}),
			then: evs(sent("sys2", sys, "maintenance at noon", domain.MessageSystem, nil, 2, ""))},
		{name: "a system message may reply", given: publicRoom(sentMsg(msg1, alice, 1)),
			when: roomCmd("sys3", sys, domain.SendMessage{Content: "pinned", MessageType: domain.MessageSystem, ReplyToMessageID: ptr(msg1)}),
			then: evs(sent("sys3", sys, "pinned", domain.MessageSystem, ptr(msg1), 2, ""))},
		{name: "system content follows the text rules", given: publicRoom(),
			when: roomCmd("sys4", sys, domain.SendMessage{Content: "  ", MessageType: domain.MessageSystem}),
			code: domain.CodeValidationFailed},
		{name: "the server sending text must be a member", given: publicRoom(),
			when: roomCmd("sys5", sys, domain.SendMessage{Content: "hi"}), code: domain.CodeNotAMember},
		{name: "a member sending system: validation_failed", given: publicRoom(joined(bob, domain.RoleMember)),
			when: roomCmd("sys6", bob, domain.SendMessage{Content: "hi", MessageType: domain.MessageSystem}), code: domain.CodeValidationFailed},
		{name: "a stranger sending system: not_a_member", given: publicRoom(),
			when: roomCmd("sys7", carol, domain.SendMessage{Content: "hi", MessageType: domain.MessageSystem}), code: domain.CodeNotAMember},
		{name: "the server on a room that does not exist: room_not_found",
			when: roomCmd("sys8", sys, domain.SendMessage{Content: "hi", MessageType: domain.MessageSystem}), code: domain.CodeRoomNotFound},
	})
	if domain.SystemActorID == uuid.Nil || domain.SystemActorID != uuid.MustParse("00000000-0000-0000-0000-000000000001") {
		t.Errorf("SystemActorID is %s", domain.SystemActorID)
	}
	if domain.UserIDFor("system") == domain.SystemActorID {
		t.Error("a user can be registered with the system actor's id")
	}
}

func TestRoomSendReplyMustBeLive(t *testing.T) {
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{name: "reply to a deleted message: message_not_found",
			given: publicRoom(sentMsg(msg1, alice, 1), msgDeleted(msg1, 1, alice)),
			when:  roomCmd("rl1", alice, domain.SendMessage{Content: "re", ReplyToMessageID: ptr(msg1)}), code: domain.CodeMessageNotFound},
		{name: "reply to a live message next to a deleted one",
			given: publicRoom(sentMsg(msg1, alice, 1), sentMsg(msg2, alice, 2), msgDeleted(msg1, 1, alice)),
			when:  roomCmd("rl2", alice, domain.SendMessage{Content: "re", ReplyToMessageID: ptr(msg2)}),
			then:  evs(sent("rl2", alice, "re", domain.MessageText, ptr(msg2), 3, ""))},
		{name: "reply to an edited message",
			given: publicRoom(sentMsg(msg1, alice, 1), msgUpdated(msg1, alice, 1, "edited", alice)),
			when:  roomCmd("rl3", alice, domain.SendMessage{Content: "re", ReplyToMessageID: ptr(msg1)}),
			then:  evs(sent("rl3", alice, "re", domain.MessageText, ptr(msg1), 2, ""))},
		{name: "seq keeps growing after a deletion",
			given: publicRoom(sentMsg(msg1, alice, 1), sentMsg(msg2, alice, 2), msgDeleted(msg2, 2, alice)),
			when:  roomCmd("rl4", alice, domain.SendMessage{Content: "three"}),
			then:  evs(sent("rl4", alice, "three", domain.MessageText, nil, 3, ""))},
	})
}

func TestRoomEditMessage(t *testing.T) {
	cjk4000 := strings.Repeat("界", 4000)
	// bob's image (msg2, seq 2) replies to alice's text (msg1, seq 1); created an hour ago.
	earlier := nowUTC.Add(-time.Hour)
	image := domain.MessageSent{RoomID: roomID, Message: domain.MessageData{
		ID: msg2, RoomID: roomID, SenderID: bob, Content: "https://x/a.png", MessageType: domain.MessageImage,
		ReplyToMessageID: ptr(msg1), Seq: 2, CreatedAt: earlier,
	}}
	base := withStaff(sentMsg(msg1, alice, 1), image, sentMsg(msg3, bob, 3))
	imageEdited := func(content string) domain.MessageUpdated {
		return domain.MessageUpdated{RoomID: roomID, MessageID: msg2, NewContent: content, UpdatedBy: bob, UpdatedAt: nowUTC,
			Seq: 2, SenderID: bob, MessageType: domain.MessageImage, ReplyToMessageID: ptr(msg1), CreatedAt: earlier}
	}
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{name: "author edits: MessageUpdated carries the message's facts",
			given: base, when: roomCmd("e1", bob, domain.EditMessage{MessageID: msg3, Content: "fixed"}),
			then: evs(msgUpdated(msg3, bob, 3, "fixed", bob))},
		{name: "content stored trimmed",
			given: base, when: roomCmd("e2", bob, domain.EditMessage{MessageID: msg3, Content: "\n fixed \t"}),
			then: evs(msgUpdated(msg3, bob, 3, "fixed", bob))},
		{name: "owner edits own message",
			given: base, when: roomCmd("e3", alice, domain.EditMessage{MessageID: msg1, Content: "mine"}),
			then: evs(msgUpdated(msg1, alice, 1, "mine", alice))},
		{name: "edited twice",
			given: append(base, msgUpdated(msg3, bob, 3, "one", bob)), when: roomCmd("e4", bob, domain.EditMessage{MessageID: msg3, Content: "two"}),
			then: evs(msgUpdated(msg3, bob, 3, "two", bob))},
		{name: "image: type, reply and creation time carried; a new URL is fine",
			given: base, when: roomCmd("e5", bob, domain.EditMessage{MessageID: msg2, Content: "https://x/b.png"}),
			then: evs(imageEdited("https://x/b.png"))},
		{name: "image: a descriptor is fine",
			given: base, when: roomCmd("e6", bob, domain.EditMessage{MessageID: msg2, Content: `{"url":"https://x/b.png","name":"b"}`}),
			then: evs(imageEdited(`{"url":"https://x/b.png","name":"b"}`))},
		{name: "image: plain text is validation_failed",
			given: base, when: roomCmd("e7", bob, domain.EditMessage{MessageID: msg2, Content: "just text"}), code: domain.CodeValidationFailed},
		{name: "4000 characters ok",
			given: base, when: roomCmd("e8", bob, domain.EditMessage{MessageID: msg3, Content: cjk4000}),
			then: evs(msgUpdated(msg3, bob, 3, cjk4000, bob))},
		{name: "4001 characters: validation_failed",
			given: base, when: roomCmd("e9", bob, domain.EditMessage{MessageID: msg3, Content: cjk4000 + "x"}), code: domain.CodeValidationFailed},
		{name: "empty: validation_failed",
			given: base, when: roomCmd("e10", bob, domain.EditMessage{MessageID: msg3, Content: " \n "}), code: domain.CodeValidationFailed},
		{name: "invalid UTF-8: validation_failed",
			given: base, when: roomCmd("e11", bob, domain.EditMessage{MessageID: msg3, Content: "a\xff"}), code: domain.CodeValidationFailed},
		{name: "another member's message: forbidden",
			given: base, when: roomCmd("e12", bob, domain.EditMessage{MessageID: msg1, Content: "x"}), code: domain.CodeForbidden},
		{name: "owner editing a member's message: forbidden",
			given: base, when: roomCmd("e13", alice, domain.EditMessage{MessageID: msg3, Content: "x"}), code: domain.CodeForbidden},
		{name: "admin editing a member's message: forbidden",
			given: base, when: roomCmd("e14", dave, domain.EditMessage{MessageID: msg3, Content: "x"}), code: domain.CodeForbidden},
		{name: "authority is checked before the content",
			given: base, when: roomCmd("e15", dave, domain.EditMessage{MessageID: msg3, Content: ""}), code: domain.CodeForbidden},
		{name: "unknown message: message_not_found",
			given: base, when: roomCmd("e16", bob, domain.EditMessage{MessageID: uuid.MustParse("0e000000-0000-4000-8000-0000000000ff"), Content: "x"}), code: domain.CodeMessageNotFound},
		{name: "nil message id: message_not_found",
			given: base, when: roomCmd("e17", bob, domain.EditMessage{Content: "x"}), code: domain.CodeMessageNotFound},
		{name: "deleted message: message_not_found",
			given: append(base, msgDeleted(msg3, 3, bob)), when: roomCmd("e18", bob, domain.EditMessage{MessageID: msg3, Content: "x"}), code: domain.CodeMessageNotFound},
		{name: "unknown message is found missing before the content is checked",
			given: base, when: roomCmd("e19", bob, domain.EditMessage{MessageID: uuid.MustParse("0e000000-0000-4000-8000-0000000000fe"), Content: ""}), code: domain.CodeMessageNotFound},
		{name: "author who left: not_a_member",
			given: append(base, left(bob)), when: roomCmd("e20", bob, domain.EditMessage{MessageID: msg3, Content: "x"}), code: domain.CodeNotAMember},
		{name: "stranger: not_a_member",
			given: base, when: roomCmd("e21", carol, domain.EditMessage{MessageID: msg3, Content: "x"}), code: domain.CodeNotAMember},
		{name: "system message cannot be edited by a member",
			given: append(base, domain.MessageSent{RoomID: roomID, Message: domain.MessageData{ID: uuid.MustParse("0e000000-0000-4000-8000-000000000005"),
				RoomID: roomID, SenderID: domain.SystemActorID, Content: "x", MessageType: domain.MessageSystem, Seq: 4, CreatedAt: nowUTC}}),
			when: roomCmd("e22", alice, domain.EditMessage{MessageID: uuid.MustParse("0e000000-0000-4000-8000-000000000005"), Content: "y"}),
			code: domain.CodeForbidden},
	})
}

func TestRoomDeleteMessage(t *testing.T) {
	base := withStaff(sentMsg(msg1, alice, 1), sentMsg(msg2, dave, 2), sentMsg(msg3, bob, 3))
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{name: "author deletes own message", given: base, when: roomCmd("dm1", bob, domain.DeleteMessage{MessageID: msg3}), then: evs(msgDeleted(msg3, 3, bob))},
		{name: "owner deletes a member's message", given: base, when: roomCmd("dm2", alice, domain.DeleteMessage{MessageID: msg3}), then: evs(msgDeleted(msg3, 3, alice))},
		{name: "admin deletes a member's message", given: base, when: roomCmd("dm3", dave, domain.DeleteMessage{MessageID: msg3}), then: evs(msgDeleted(msg3, 3, dave))},
		{name: "admin deletes the owner's message", given: base, when: roomCmd("dm4", dave, domain.DeleteMessage{MessageID: msg1}), then: evs(msgDeleted(msg1, 1, dave))},
		{name: "owner deletes an admin's message", given: base, when: roomCmd("dm5", alice, domain.DeleteMessage{MessageID: msg2}), then: evs(msgDeleted(msg2, 2, alice))},
		{name: "edited message can be deleted", given: append(base, msgUpdated(msg3, bob, 3, "e", bob)), when: roomCmd("dm6", bob, domain.DeleteMessage{MessageID: msg3}), then: evs(msgDeleted(msg3, 3, bob))},
		{name: "member deletes another's message: forbidden", given: base, when: roomCmd("dm7", bob, domain.DeleteMessage{MessageID: msg1}), code: domain.CodeForbidden},
		{name: "demoted admin: forbidden", given: append(base, roleChanged(dave, domain.RoleMember, alice)), when: roomCmd("dm8", dave, domain.DeleteMessage{MessageID: msg3}), code: domain.CodeForbidden},
		{name: "unknown message: message_not_found", given: base, when: roomCmd("dm9", alice, domain.DeleteMessage{MessageID: uuid.MustParse("0e000000-0000-4000-8000-0000000000fe")}), code: domain.CodeMessageNotFound},
		{name: "deleted twice: message_not_found", given: append(base, msgDeleted(msg3, 3, bob)), when: roomCmd("dm10", alice, domain.DeleteMessage{MessageID: msg3}), code: domain.CodeMessageNotFound},
		{name: "stranger: not_a_member", given: base, when: roomCmd("dm11", carol, domain.DeleteMessage{MessageID: msg3}), code: domain.CodeNotAMember},
		{name: "author who was kicked: not_a_member", given: append(base, kicked(bob, alice)), when: roomCmd("dm12", bob, domain.DeleteMessage{MessageID: msg3}), code: domain.CodeNotAMember},
		{name: "edit after delete: message_not_found", given: append(base, msgDeleted(msg3, 3, alice)), when: roomCmd("dm13", bob, domain.EditMessage{MessageID: msg3, Content: "x"}), code: domain.CodeMessageNotFound},
		{name: "a system message can be deleted by an admin",
			given: append(base, domain.MessageSent{RoomID: roomID, Message: domain.MessageData{ID: uuid.MustParse("0e000000-0000-4000-8000-000000000005"),
				RoomID: roomID, SenderID: domain.SystemActorID, Content: "x", MessageType: domain.MessageSystem, Seq: 4, CreatedAt: nowUTC}}),
			when: roomCmd("dm14", dave, domain.DeleteMessage{MessageID: uuid.MustParse("0e000000-0000-4000-8000-000000000005")}),
			then: evs(msgDeleted(uuid.MustParse("0e000000-0000-4000-8000-000000000005"), 4, dave))},
	})
}

func TestRoomMarkRead(t *testing.T) {
	base := withStaff(sentMsg(msg1, alice, 1), sentMsg(msg2, bob, 2), sentMsg(msg3, bob, 3))
	runScenarios(t, domain.AggregateRoom, roomID, []scenario{
		{name: "member marks seq 1", given: base, when: roomCmd("mr1", bob, domain.MarkRead{Seq: 1}), then: evs(readMarker(bob, 1))},
		{name: "member marks the last seq", given: base, when: roomCmd("mr2", bob, domain.MarkRead{Seq: 3}), then: evs(readMarker(bob, 3))},
		{name: "marker moves forward", given: append(base, readMarker(bob, 1)), when: roomCmd("mr3", bob, domain.MarkRead{Seq: 2}), then: evs(readMarker(bob, 2))},
		{name: "owner has a marker too", given: base, when: roomCmd("mr4", alice, domain.MarkRead{Seq: 2}), then: evs(readMarker(alice, 2))},
		{name: "markers are per user", given: append(base, readMarker(bob, 3)), when: roomCmd("mr5", dave, domain.MarkRead{Seq: 1}), then: evs(readMarker(dave, 1))},
		{name: "the seq of a deleted message is fine", given: append(base, msgDeleted(msg3, 3, bob)), when: roomCmd("mr6", bob, domain.MarkRead{Seq: 3}), then: evs(readMarker(bob, 3))},
		{name: "same seq as the marker: accepted, no events", given: append(base, readMarker(bob, 2)), when: roomCmd("mr7", bob, domain.MarkRead{Seq: 2}), then: evs()},
		{name: "lower seq than the marker: accepted, no events", given: append(base, readMarker(bob, 3)), when: roomCmd("mr8", bob, domain.MarkRead{Seq: 1}), then: evs()},
		{name: "seq 0: validation_failed", given: base, when: roomCmd("mr9", bob, domain.MarkRead{Seq: 0}), code: domain.CodeValidationFailed},
		{name: "negative seq: validation_failed", given: base, when: roomCmd("mr10", bob, domain.MarkRead{Seq: -1}), code: domain.CodeValidationFailed},
		{name: "beyond the last seq: validation_failed", given: base, when: roomCmd("mr11", bob, domain.MarkRead{Seq: 4}), code: domain.CodeValidationFailed},
		{name: "room without messages: validation_failed", given: withStaff(), when: roomCmd("mr12", bob, domain.MarkRead{Seq: 1}), code: domain.CodeValidationFailed},
		{name: "beyond the last seq even above the marker: validation_failed", given: append(base, readMarker(bob, 3)), when: roomCmd("mr13", bob, domain.MarkRead{Seq: 9}), code: domain.CodeValidationFailed},
		{name: "stranger: not_a_member", given: base, when: roomCmd("mr14", carol, domain.MarkRead{Seq: 1}), code: domain.CodeNotAMember},
		{name: "membership is checked before the seq", given: base, when: roomCmd("mr15", carol, domain.MarkRead{Seq: 99}), code: domain.CodeNotAMember},
		{name: "ex-member: not_a_member", given: append(base, left(bob)), when: roomCmd("mr16", bob, domain.MarkRead{Seq: 1}), code: domain.CodeNotAMember},
	})
}

// A mark_read at or below the marker is accepted with an empty, non-nil slice of events and
// changes nothing, version included.
func TestRoomMarkReadNoop(t *testing.T) {
	r := roomOf(t, publicRoom(sentMsg(msg1, alice, 1), sentMsg(msg2, alice, 2), readMarker(alice, 2))...)
	v := r.Version()
	got, err := r.Decide(roomCmd("noop", alice, domain.MarkRead{Seq: 1}), now)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("want an empty slice and no error, got %#v, %v", got, err)
	}
	if r.Version() != v || r.ReadMarker(alice) != 2 {
		t.Errorf("no-op changed the room: version %d->%d, marker %d", v, r.Version(), r.ReadMarker(alice))
	}
}
