package search_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/search"
)

// withNUL puts NULs into the messages of recs, as an event written before the domain's text
// rule (or by another writer) may hold them: the domain refuses them now.
func withNUL(recs []search.Record) []search.Record {
	for i, r := range recs {
		switch d := r.Event.Data.(type) {
		case domain.MessageSent:
			d.Message.Content += " \x00nul"
			recs[i].Event.Data = d
		case domain.MessageUpdated:
			d.NewContent += " \x00nul"
			recs[i].Event.Data = d
		}
	}
	return recs
}

// Messages and edits with NUL are indexed, NUL stripped, and found.
func TestEventsWithNULAreIndexed(t *testing.T) {
	f := newFixture(t)
	alice := uuid.New()
	room, r1 := f.log.createRoom(alice, false)
	sent, r2 := f.log.send(room, alice, "zebra")
	_, r3 := f.log.send(room, alice, "giraffe")
	r4 := f.log.act(room, alice, domain.EditMessage{MessageID: sent, Content: "okapi"})
	f.apply(r1, withNUL(r2), withNUL(r3), withNUL(r4))
	if got := f.find(alice, "okapi"); len(got) != 1 || got[0] != "okapi nul" {
		t.Fatalf("found %q, want the edited message stored without its NUL", got)
	}
	if got := f.find(alice, "giraffe"); len(got) != 1 || got[0] != "giraffe nul" {
		t.Fatalf("found %q", got)
	}
}
