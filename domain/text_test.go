package domain_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// textField is one text field of one command: how to send a value in it and where the accepted
// value lands in the event.
type textField struct {
	name   string
	block  bool // a multi-line field: newline and tab allowed, CR normalised
	named  bool // must hold something visible
	agg    string
	aggID  uuid.UUID
	given  []domain.EventData
	cmd    func(key, v string) domain.Command
	stored func(domain.EventData) string // panics on another event type: see storedIn
}

func textFields() []textField {
	room := func(name string, given []domain.EventData, actor uuid.UUID, p func(string) domain.CommandData, stored func(domain.EventData) string) textField {
		return textField{name: name, agg: domain.AggregateRoom, aggID: roomID, given: given,
			cmd: func(key, v string) domain.Command { return roomCmd(key, actor, p(v)) }, stored: stored}
	}
	withMsg := withStaff(sentMsg(msg1, bob, 1))
	fields := []textField{
		room("create_room name", nil, alice, func(v string) domain.CommandData { return domain.CreateRoom{Name: v} },
			func(d domain.EventData) string { return d.(domain.RoomCreated).Name }),
		room("create_room description", nil, alice, func(v string) domain.CommandData { return domain.CreateRoom{Name: "r", Description: v} },
			func(d domain.EventData) string { return d.(domain.RoomCreated).Description }),
		room("update_room name", withStaff(), alice, func(v string) domain.CommandData { return domain.UpdateRoom{Name: &v} },
			func(d domain.EventData) string { return *d.(domain.RoomUpdated).Name }),
		room("update_room description", withStaff(), alice, func(v string) domain.CommandData { return domain.UpdateRoom{Description: &v} },
			func(d domain.EventData) string { return *d.(domain.RoomUpdated).Description }),
		room("send_message content", withStaff(), bob, func(v string) domain.CommandData { return domain.SendMessage{Content: v} },
			func(d domain.EventData) string { return d.(domain.MessageSent).Message.Content }),
		room("send_message client_msg_id", withStaff(), bob, func(v string) domain.CommandData { return domain.SendMessage{Content: "x", ClientMsgID: v} },
			func(d domain.EventData) string { return d.(domain.MessageSent).Message.ClientMsgID }),
		room("edit_message content", withMsg, bob, func(v string) domain.CommandData { return domain.EditMessage{MessageID: msg1, Content: v} },
			func(d domain.EventData) string { return d.(domain.MessageUpdated).NewContent }),
		room("ban_member reason", withStaff(), alice, func(v string) domain.CommandData { return domain.BanMember{UserID: bob, Reason: v} },
			func(d domain.EventData) string { return d.(domain.UserBanned).Reason }),
		{name: "register_user display_name", agg: domain.AggregateUser, aggID: aliceID,
			cmd: func(key, v string) domain.Command {
				return register(key, domain.RegisterUser{Username: "alice", DisplayName: v})
			},
			stored: func(d domain.EventData) string { return d.(domain.UserRegistered).DisplayName }},
		{name: "update_profile display_name", agg: domain.AggregateUser, aggID: aliceID, given: evs(registered("alice", "Alice", "")),
			cmd: func(key, v string) domain.Command {
				return profile(key, aliceID, domain.UpdateProfile{DisplayName: &v})
			},
			stored: func(d domain.EventData) string { return *d.(domain.UserProfileUpdated).DisplayName }},
		{name: "publish_system_event message", agg: domain.AggregateSystem, aggID: domain.SystemAggregateID,
			cmd: func(key, v string) domain.Command {
				return systemCmd(key, alice, domain.PublishSystemEvent{Kind: domain.SystemMaintenance, Message: v})
			},
			stored: func(d domain.EventData) string { return d.(domain.SystemEventPublished).Message }},
	}
	for i := range fields {
		switch fields[i].name {
		case "create_room description", "update_room description", "send_message content", "edit_message content",
			"ban_member reason", "publish_system_event message":
			fields[i].block = true
		}
		switch fields[i].name {
		case "create_room name", "update_room name", "send_message content", "edit_message content",
			"register_user display_name", "update_profile display_name", "publish_system_event message":
			fields[i].named = true
		}
	}
	return fields
}

// TestTextRule sends the same hostile and ordinary text through every text field of every
// command: what is refused is validation_failed, what is accepted is stored as the rule says.
func TestTextRule(t *testing.T) {
	type want struct {
		refused bool
		stored  string
	}
	inputs := []struct {
		name  string
		in    string
		line  want // in a one-line field
		block want // in a multi-line field
		// invisible: refused in a field that must show something, even where the rest is fine
		invisible bool
	}{
		{"plain", "hello wörld 界 🙂", want{stored: "hello wörld 界 🙂"}, want{stored: "hello wörld 界 🙂"}, false},
		{"NUL", "nul\x00room", want{refused: true}, want{refused: true}, false},
		{"NUL alone", "\x00", want{refused: true}, want{refused: true}, true},
		{"bell", "a\x07b", want{refused: true}, want{refused: true}, false},
		{"escape sequence", "a\x1b[31mred", want{refused: true}, want{refused: true}, false},
		{"DEL", "a\x7fb", want{refused: true}, want{refused: true}, false},
		{"C1 control", "a\u0085b", want{refused: true}, want{refused: true}, false},
		{"newline inside", "a\nb", want{refused: true}, want{stored: "a\nb"}, false},
		{"tab inside", "a\tb", want{refused: true}, want{stored: "a\tb"}, false},
		{"CRLF", "a\r\nb", want{refused: true}, want{stored: "a\nb"}, false},
		{"lone CR", "a\rb", want{refused: true}, want{stored: "a\nb"}, false},
		{"bidi override", "abc\u202egpj.exe", want{refused: true}, want{stored: "abc\u202egpj.exe"}, false},
		{"bidi isolate", "a\u2067b\u2069", want{refused: true}, want{stored: "a\u2067b\u2069"}, false},
		{"zero-width joiner in an emoji", "👩\u200d💻", want{stored: "👩\u200d💻"}, want{stored: "👩\u200d💻"}, false},
		{"only zero-width", "\u200b\u200c\u200d\u2060", want{stored: "\u200b\u200c\u200d\u2060"}, want{stored: "\u200b\u200c\u200d\u2060"}, true},
		{"only bidi marks", "\u200e\u200f", want{stored: "\u200e\u200f"}, want{stored: "\u200e\u200f"}, true},
		{"only bidi overrides", "\u202e\u202d", want{refused: true}, want{stored: "\u202e\u202d"}, true},
		{"only combining marks", "\u0301\u0301", want{stored: "\u0301\u0301"}, want{stored: "\u0301\u0301"}, true},
		{"noncharacter", "a\uffffb", want{refused: true}, want{refused: true}, false},
		{"invalid UTF-8", "a\xffb", want{refused: true}, want{refused: true}, false},
	}
	for _, f := range textFields() {
		for i, in := range inputs {
			t.Run(f.name+"/"+in.name, func(t *testing.T) {
				w := in.line
				if f.block {
					w = in.block
				}
				refused := w.refused || (f.named && in.invisible)
				agg := build(f.agg, f.aggID, f.given...)
				evs, err := agg.Decide(f.cmd("t"+string(rune('a'+i)), in.in), now)
				if refused {
					if code := domain.CodeOf(err); code != domain.CodeValidationFailed {
						t.Fatalf("%q: want validation_failed, got %v (events %v)", in.in, err, evs)
					}
					return
				}
				if err != nil {
					t.Fatalf("%q: want accepted, got %v", in.in, err)
				}
				if got := storedIn(t, f, evs); got != w.stored {
					t.Fatalf("%q stored as %q, want %q", in.in, got, w.stored)
				}
			})
		}
	}
}

// storedIn is the field's value in the first event that carries it.
func storedIn(t *testing.T, f textField, evs []domain.Event) string {
	t.Helper()
	for _, e := range evs {
		if v, ok := tryStored(f, e.Data); ok {
			return v
		}
	}
	t.Fatalf("no event carries %s: %v", f.name, evs)
	return ""
}

func tryStored(f textField, d domain.EventData) (v string, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return f.stored(d), true
}

func TestUsernameRule(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"alice", true}, {"a.b", true}, {"x_1", true}, {"..a", true}, {"-_9", true},
		{"...", false}, {"---", false}, {"_._", false}, {"ab", false}, {"al ice", false}, {"al\x00ice", false},
		{"alïce", false}, {"alice\u200b", false},
	} {
		agg := build(domain.AggregateUser, domain.UserIDFor(tc.name))
		_, err := agg.Decide(register("u-"+tc.name, domain.RegisterUser{Username: tc.name}), now)
		if tc.ok && err != nil {
			t.Errorf("%q: refused: %v", tc.name, err)
		}
		if !tc.ok && domain.CodeOf(err) != domain.CodeValidationFailed {
			t.Errorf("%q: want validation_failed, got %v", tc.name, err)
		}
		if ok := domain.UsernameProblem(tc.name) == ""; ok != tc.ok {
			t.Errorf("UsernameProblem(%q) ok = %v, want %v", tc.name, ok, tc.ok)
		}
	}
}

func TestSystemDataRefusesNUL(t *testing.T) {
	for _, tc := range []struct {
		data string
		ok   bool
	}{
		{`{"a":"b"}`, true},
		{`{"a":"\\u0000"}`, true}, // an escaped backslash: the text \u0000, no NUL
		{`{"a":"x\u0000"}`, false},
		{`{"k\u0000":1}`, false},
		{`["ok",["\u0000"]]`, false},
	} {
		agg := build(domain.AggregateSystem, domain.SystemAggregateID)
		_, err := agg.Decide(systemCmd("d", alice, domain.PublishSystemEvent{Kind: domain.SystemMaintenance, Message: "m", Data: json.RawMessage(tc.data)}), now)
		if tc.ok && err != nil {
			t.Errorf("%s: refused: %v", tc.data, err)
		}
		if !tc.ok && domain.CodeOf(err) != domain.CodeValidationFailed {
			t.Errorf("%s: want validation_failed, got %v", tc.data, err)
		}
	}
}
