package notify_test

import (
	"testing"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/notify"
)

// An organization's broadcast notifies every member it has when it is sent (the sender too),
// nobody who left before or joined after, and a replay notifies nobody twice.
func TestOrgBroadcastNotifiesEveryMember(t *testing.T) {
	f := newFixture(t)
	w := f.w
	org := domain.OrgIDFor("acme")
	w.do(org, alice, domain.CreateOrganization{Name: "Acme", Slug: "acme"})
	for _, u := range []string{"bob", "carol"} {
		w.do(org, alice, domain.AddOrgMember{UserID: user(u), Username: u})
	}
	w.do(org, carol, domain.LeaveOrganization{})
	rec := w.do(org, alice, domain.BroadcastToOrganization{Title: "All hands", Body: "Friday\n10:00 in the hall"})[0]
	w.do(org, alice, domain.AddOrgMember{UserID: dave, Username: "dave"})
	f.sync()

	for _, u := range []string{"alice", "bob"} {
		ns := f.expect(user(u), "org_broadcast: All hands: Friday 10:00 in the hall")
		if ns[0].ID != notify.ID(rec.Event.ID, user(u)) || ns[0].ActorID == nil || *ns[0].ActorID != alice {
			t.Fatalf("broadcast notification %+v", ns[0])
		}
	}
	f.expect(carol)
	f.expect(dave)
	if n := f.count("notification_outbox"); n != 2 {
		t.Fatalf("outbox holds %d, want the 2 notifications", n)
	}

	// Rebuilt from the start: the same notifications, with the same ids.
	for _, q := range []string{`TRUNCATE notifications, notify_rooms, notify_members, notify_org_members, notification_outbox`,
		`DELETE FROM projection_checkpoints`} {
		if _, err := f.pool.Exec(f.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	f.applied = 0
	f.sync()
	for _, u := range []string{"alice", "bob"} {
		if ns := f.expect(user(u), "org_broadcast: All hands: Friday 10:00 in the hall"); ns[0].ID != notify.ID(rec.Event.ID, user(u)) {
			t.Fatalf("rebuilt broadcast notification %+v", ns[0])
		}
	}
	f.expect(carol)
	f.expect(dave)
}
