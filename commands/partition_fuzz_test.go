package commands

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// domainCodes are the contract codes a rejection by the domain may carry.
var domainCodes = map[string]bool{
	domain.CodeValidationFailed: true, domain.CodeForbidden: true, domain.CodeNotAMember: true,
	domain.CodeRoomNotFound: true, domain.CodeRoomDeleted: true, domain.CodeAlreadyMember: true,
	domain.CodeUsernameTaken: true, domain.CodeMessageNotFound: true, domain.CodeWrongPassword: true,
	domain.CodeUserNotFound: true,
}

// Fixed ids of the fuzz world, so that seeds can name them.
var (
	fuzzRoom  = uuid.MustParse("6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60")
	fuzzMsg   = uuid.MustParse("5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9")
	fuzzAlice = domain.UserIDFor("alice")
	fuzzBob   = domain.UserIDFor("bob")
)

// FuzzDecideCommand: whatever command record the processor reads from the command topic and
// decodes, deciding it against a partition (alice's room with bob in it and one message) does
// not panic; a rejection carries a contract code; an accepted command's events belong to the
// aggregate and aggregate type its payload names, are at their type's schema version, and
// decode from the log's JSON as the very events decided.
func FuzzDecideCommand(f *testing.F) {
	now := time.Unix(1_700_000_000, 0).UTC()
	mk := func(aggType string, agg, actor uuid.UUID, name string, p domain.CommandData) []byte {
		c := domain.NewCommand(uuid.New(), agg, actor, name, now, p)
		c.AggregateType = aggType
		b, err := json.Marshal(c)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	str := func(s string) *string { return &s }
	for _, b := range [][]byte{
		mk(domain.AggregateRoom, fuzzRoom, fuzzAlice, "alice", domain.SendMessage{Content: "hi", ReplyToMessageID: &fuzzMsg}),
		mk(domain.AggregateRoom, fuzzRoom, fuzzBob, "bob", domain.EditMessage{MessageID: fuzzMsg, Content: "x"}),
		mk(domain.AggregateRoom, fuzzRoom, fuzzAlice, "alice", domain.UpdateRoom{Name: str(" "), Description: str("d")}),
		mk(domain.AggregateRoom, fuzzRoom, fuzzAlice, "alice", domain.SetRole{UserID: fuzzBob, Role: "owner"}),
		mk(domain.AggregateRoom, fuzzRoom, fuzzAlice, "alice", domain.BanMember{UserID: fuzzBob, Reason: "r"}),
		mk(domain.AggregateRoom, fuzzRoom, fuzzBob, "bob", domain.MarkRead{Seq: 1 << 62}),
		mk(domain.AggregateRoom, fuzzRoom, fuzzAlice, "alice", domain.SendMessage{Content: "a\x00b", MessageType: "image"}),
		mk(domain.AggregateRoom, fuzzRoom, fuzzAlice, "alice", domain.DeleteRoom{}),
		mk(domain.AggregateUser, fuzzAlice, fuzzAlice, "alice", domain.UpdateProfile{Email: str("not-an-email")}),
		mk(domain.AggregateUser, domain.UserIDFor("carol"), domain.UserIDFor("carol"), "carol", domain.RegisterUser{Username: "carol"}),
		mk(domain.AggregateSystem, domain.SystemAggregateID, fuzzAlice, "alice", domain.PublishSystemEvent{Kind: "maintenance", Message: "m", Data: json.RawMessage(`{"a":1}`)}),
		// Envelopes that disagree with their payload.
		mk("bogus", fuzzRoom, fuzzAlice, "alice", domain.SendMessage{Content: "hi"}),
		mk(domain.AggregateUser, fuzzRoom, fuzzAlice, "alice", domain.SendMessage{Content: "hi"}),
		mk(domain.AggregateRoom, fuzzAlice, fuzzAlice, "alice", domain.UpdateProfile{DisplayName: str("A")}),
		mk(domain.AggregateRoom, uuid.New(), fuzzAlice, "alice", domain.CreateRoom{Name: "n"}),
		mk(domain.AggregateSystem, fuzzRoom, fuzzAlice, "alice", domain.PublishSystemEvent{Kind: "maintenance", Message: "m"}),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var cmd domain.Command
		if err := json.Unmarshal(b, &cmd); err != nil {
			return
		}
		s := NewPartitionState()
		for _, c := range []domain.Command{
			domain.NewCommand(uuid.New(), fuzzAlice, fuzzAlice, "alice", now, domain.RegisterUser{Username: "alice"}),
			domain.NewCommand(uuid.New(), fuzzRoom, fuzzAlice, "alice", now, domain.CreateRoom{Name: "room"}),
			domain.NewCommand(uuid.New(), fuzzRoom, fuzzBob, "bob", now, domain.JoinRoom{}),
		} {
			if d := s.Decide(c, now); !d.Reply.Accepted {
				t.Fatalf("setup %s: %s", c.Type, d.Reply.Message)
			}
		}
		d := s.Decide(cmd, now)
		if !d.Reply.Accepted {
			if !domainCodes[d.Reply.Code] || d.Reply.Message == "" || len(d.Events) != 0 {
				t.Fatalf("%q rejected with code %q, message %q, %d events", b, d.Reply.Code, d.Reply.Message, len(d.Events))
			}
			return
		}
		for _, ev := range d.Events {
			if ev.AggregateID != cmd.AggregateID || ev.AggregateType != domain.AggregateTypeOf(cmd.Payload) {
				t.Fatalf("%q (a %s command of a %q aggregate) wrote a %s event of %s aggregate %s", b, cmd.Type,
					cmd.AggregateType, ev.Type, ev.AggregateType, ev.AggregateID)
			}
			if ev.SchemaVersion != domain.SchemaVersion(ev.Type) || ev.Data == nil || ev.Data.EventType() != ev.Type {
				t.Fatalf("%q wrote %s at schema version %d with data %T", b, ev.Type, ev.SchemaVersion, ev.Data)
			}
			raw, err := json.Marshal(ev)
			if err != nil {
				t.Fatalf("%q: event %s does not encode: %v", b, ev.Type, err)
			}
			var back domain.Event
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatalf("%q wrote %s, which does not decode: %v", b, raw, err)
			}
			if !reflect.DeepEqual(back, ev) {
				t.Fatalf("%q: event\n%#v\nreads back from the log as\n%#v", b, ev, back)
			}
		}
	})
}
