package projections_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// An organization's broadcast is one system_event frame, scoped to the organization, for the
// sockets of its members, in pushes of at most MaxPushUsers users each.
func TestOrgBroadcastPushes(t *testing.T) {
	org, bc := uuid.New(), uuid.New()
	d := domain.OrgBroadcastSent{OrgID: org, BroadcastID: bc, Title: "All hands", Body: "Friday", SentBy: alice, SentAt: at}
	e := envelope(domain.AggregateOrganization, org, d)
	members := make([]uuid.UUID, projections.MaxPushUsers+1)
	for i := range members {
		members[i] = uuid.New()
	}
	ps, err := projections.OrgBroadcastPushes(e, d, members)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || len(ps[0].UserIDs) != projections.MaxPushUsers || len(ps[1].UserIDs) != 1 || ps[1].UserIDs[0] != members[len(members)-1] {
		t.Fatalf("pushes: %d", len(ps))
	}
	for _, p := range ps {
		if p.Target != projections.TargetUsers || p.Kind != "system_event" || p.CommandID != e.CommandID {
			t.Fatalf("push %+v", p)
		}
	}
	var frame struct {
		Type  string                        `json:"type"`
		Event projections.OrgBroadcastEvent `json:"event"`
	}
	if err := json.Unmarshal(ps[0].Frame, &frame); err != nil {
		t.Fatal(err)
	}
	want := projections.OrgBroadcastEvent{ID: e.ID, EventType: "org_broadcast", OrgID: org, BroadcastID: bc, Title: "All hands",
		Message: "Friday", SentBy: alice, CreatedAt: at}
	if frame.Type != "system_event" || frame.Event != want {
		t.Fatalf("frame %s", ps[0].Frame)
	}
	if ps, err := projections.OrgBroadcastPushes(e, d, nil); err != nil || len(ps) != 0 {
		t.Fatalf("no members: %v, %v", ps, err)
	}
}
