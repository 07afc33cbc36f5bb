package notify_test

import (
	"testing"
	"time"

	"github.com/chorus-chat/chorus/domain"
)

// nulled puts NULs into the text of the last T the world logged, as an event written before the
// domain's text rule (or by another writer) may hold them: the domain refuses them now.
func nulled[T domain.EventData](w *world, change func(T) T) {
	for i := len(w.log) - 1; i >= 0; i-- {
		if d, ok := w.log[i].Event.Data.(T); ok {
			w.log[i].Event.Data = change(d)
			return
		}
	}
	w.t.Fatal("no such event logged")
}

// A room named "nul\x00room" stopped the notifications of its partition for ever: the
// projector retried the record without end. Now events with NUL are projected, NUL stripped,
// and the mentions after them are notified.
func TestEventsWithNULAreProjected(t *testing.T) {
	f := newFixture(t)
	w := f.w
	f.registered(w.clock.Add(-time.Hour), "alice", "bob")
	room := w.createRoom(alice, "placeholder", false)
	nulled(w, func(c domain.RoomCreated) domain.RoomCreated {
		c.Name = "nul\x00room"
		return c
	})
	w.do(room, bob, domain.JoinRoom{})
	w.send(room, alice, "placeholder")
	nulled(w, func(m domain.MessageSent) domain.MessageSent {
		m.Message.Content = "hi\x00 @bob"
		return m
	})
	w.alert(alice, domain.SystemSecurityAlert, "placeholder")
	nulled(w, func(s domain.SystemEventPublished) domain.SystemEventPublished {
		s.Message = "down\x00 soon"
		return s
	})
	f.sync()
	f.expect(bob, "system_alert: down soon", "mention: alice mentioned you in nulroom: hi @bob")
}
