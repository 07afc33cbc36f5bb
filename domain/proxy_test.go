package domain_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

var proxyOrg = uuid.MustParse("0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f")

func proxySampleData() map[string]domain.EventData {
	return map[string]domain.EventData{
		"ProxyGranted": domain.ProxyGranted{GrantID: domain.ProxyGrantIDFor(cid("grant")), PrincipalID: alice, DelegateID: bob,
			Scope: domain.ProxyScopeMessages, OrgID: &proxyOrg, StartsAt: nowUTC, EndsAt: nowUTC.Add(72 * time.Hour), GrantedBy: alice},
		"ProxyGranted everywhere": domain.ProxyGranted{GrantID: domain.ProxyGrantIDFor(cid("grant2")), PrincipalID: alice,
			DelegateID: carol, Scope: domain.ProxyScopeRooms, StartsAt: nowUTC, EndsAt: nowUTC.Add(time.Hour), GrantedBy: alice},
		"ProxyGranted by an organization": domain.ProxyGranted{GrantID: domain.AuthorizedProxyGrantID(sampleAuth), PrincipalID: alice,
			DelegateID: bob, Scope: domain.ProxyScopeRooms, OrgID: &proxyOrg, StartsAt: nowUTC, EndsAt: nowUTC.Add(time.Hour), GrantedBy: dave,
			Authorization: &domain.ProxyAuthorization{OrgID: proxyOrg, AuthorizationID: sampleAuth, AuthorizedBy: dave}},
		"ProxyRevoked": domain.ProxyRevoked{GrantID: domain.ProxyGrantIDFor(cid("grant")), PrincipalID: alice, DelegateID: bob,
			RevokedBy: bob, RevokedAt: nowUTC},
	}
}

func proxySamplePayload(typ string) domain.CommandData {
	return map[string]domain.CommandData{
		domain.CmdGrantProxy: domain.GrantProxy{PrincipalID: alice, DelegateID: bob, Scope: domain.ProxyScopeRooms, OrgID: &proxyOrg,
			StartsAt: nowUTC, EndsAt: nowUTC.Add(time.Hour)},
		domain.CmdRevokeProxy: domain.RevokeProxy{GrantID: domain.ProxyGrantIDFor(cid("grant"))},
	}[typ]
}

// decideProxies runs cmd against p and applies what it accepts.
func decideProxies(t *testing.T, p domain.Aggregate, key string, actor uuid.UUID, acting *uuid.UUID, data domain.CommandData) ([]domain.Event, error) {
	t.Helper()
	cmd := domain.NewCommand(cid(key), domain.ProxiesIDFor(alice), actor, "x", now, data)
	cmd.ActingID = acting
	evs, err := p.Decide(cmd, now)
	for _, e := range evs {
		p.Apply(e)
	}
	return evs, err
}

func grantFor(delegate uuid.UUID, scope string, from, to time.Duration) domain.GrantProxy {
	return domain.GrantProxy{PrincipalID: alice, DelegateID: delegate, Scope: scope, StartsAt: now.Add(from), EndsAt: now.Add(to)}
}

// A principal grants and revokes; every bad grant is refused with its code and changes nothing.
func TestProxyGrantRules(t *testing.T) {
	p := domain.NewAggregate(domain.AggregateProxies, domain.ProxiesIDFor(alice))
	evs, err := decideProxies(t, p, "g1", alice, nil, grantFor(bob, domain.ProxyScopeMessages, 0, 24*time.Hour))
	if err != nil || len(evs) != 1 {
		t.Fatalf("grant: %v %v", evs, err)
	}
	g := evs[0].Data.(domain.ProxyGranted)
	if g.GrantID != domain.ProxyGrantIDFor(cid("g1")) || g.DelegateID != bob || g.GrantedBy != alice || !g.EndsAt.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("granted %+v", g)
	}
	for name, c := range map[string]struct {
		actor  uuid.UUID
		acting *uuid.UUID
		data   domain.CommandData
		code   string
	}{
		"to yourself":          {alice, nil, grantFor(alice, domain.ProxyScopeRooms, 0, time.Hour), domain.CodeValidationFailed},
		"for someone else":     {dave, nil, grantFor(bob, domain.ProxyScopeRooms, 0, time.Hour), domain.CodeForbidden},
		"by a delegate":        {alice, &bob, grantFor(carol, domain.ProxyScopeRooms, 0, time.Hour), domain.CodeForbidden},
		"inverted":             {alice, nil, grantFor(bob, domain.ProxyScopeRooms, time.Hour, 0), domain.CodeValidationFailed},
		"empty range":          {alice, nil, grantFor(bob, domain.ProxyScopeRooms, time.Hour, time.Hour), domain.CodeValidationFailed},
		"ended already":        {alice, nil, grantFor(bob, domain.ProxyScopeRooms, -2*time.Hour, -time.Hour), domain.CodeValidationFailed},
		"too long":             {alice, nil, grantFor(bob, domain.ProxyScopeRooms, 0, 400*24*time.Hour), domain.CodeValidationFailed},
		"unknown scope":        {alice, nil, grantFor(bob, "everything", 0, time.Hour), domain.CodeValidationFailed},
		"no delegate":          {alice, nil, grantFor(uuid.Nil, domain.ProxyScopeRooms, 0, time.Hour), domain.CodeValidationFailed},
		"overlapping":          {alice, nil, grantFor(bob, domain.ProxyScopeMessages, 23*time.Hour, 30*time.Hour), domain.CodeValidationFailed},
		"unknown grant":        {alice, nil, domain.RevokeProxy{GrantID: uuid.New()}, domain.CodeProxyNotFound},
		"revoked by outsider":  {dave, nil, domain.RevokeProxy{GrantID: g.GrantID}, domain.CodeForbidden},
		"revoked by a proxy":   {alice, &carol, domain.RevokeProxy{GrantID: g.GrantID}, domain.CodeForbidden},
		"someone else's grant": {alice, nil, domain.GrantProxy{PrincipalID: dave, DelegateID: bob, Scope: domain.ProxyScopeRooms, StartsAt: now, EndsAt: now.Add(time.Hour)}, domain.CodeValidationFailed},
	} {
		v := p.Version()
		if evs, err := decideProxies(t, p, "bad "+name, c.actor, c.acting, c.data); domain.CodeOf(err) != c.code || evs != nil || p.Version() != v {
			t.Errorf("%s: %v %v, want %s and nothing applied", name, evs, err, c.code)
		}
	}
	// Back to back is no overlap; another scope or delegate is another grant.
	for i, gp := range []domain.GrantProxy{grantFor(bob, domain.ProxyScopeMessages, 24*time.Hour, 48*time.Hour),
		grantFor(bob, domain.ProxyScopeRooms, 0, time.Hour), grantFor(carol, domain.ProxyScopeMessages, 0, time.Hour)} {
		if _, err := decideProxies(t, p, "ok"+string(rune('a'+i)), alice, nil, gp); err != nil {
			t.Errorf("grant %d: %v", i, err)
		}
	}
	// The delegate may give a grant up; then it is gone.
	evs, err = decideProxies(t, p, "r1", bob, nil, domain.RevokeProxy{GrantID: g.GrantID})
	if err != nil || evs[0].Data.(domain.ProxyRevoked).RevokedBy != bob {
		t.Fatalf("revoke: %v %v", evs, err)
	}
	if _, err := decideProxies(t, p, "r2", alice, nil, domain.RevokeProxy{GrantID: g.GrantID}); domain.CodeOf(err) != domain.CodeProxyNotFound {
		t.Errorf("revoked twice: %v", err)
	}
	if n := len(p.(*domain.Proxies).Grants()); n != 3 {
		t.Errorf("%d grants left, want 3", n)
	}
	// The state survives a snapshot.
	s, err := domain.SnapshotAggregate(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := domain.RestoreAggregate(s)
	if err != nil || len(back.(*domain.Proxies).Grants()) != 3 || back.Version() != p.Version() {
		t.Errorf("restored %#v %v", back, err)
	}
}

// A delegate's command names them in every event it makes; others' events do not.
func TestActingIDTravelsIntoEvents(t *testing.T) {
	r := domain.NewAggregate(domain.AggregateRoom, roomID)
	create := domain.NewCommand(cid("c"), roomID, alice, "alice", now, domain.CreateRoom{Name: "r"})
	evs, err := r.Decide(create, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		r.Apply(e)
		if e.ActingID != nil {
			t.Errorf("%s names a delegate", e.Type)
		}
	}
	send := domain.NewCommand(cid("s"), roomID, alice, "alice", now, domain.SendMessage{Content: "hi", MessageType: domain.MessageText})
	send.ActingID = &bob
	evs, err = r.Decide(send, now)
	if err != nil || len(evs) != 1 || evs[0].ActorID != alice || evs[0].ActingID == nil || *evs[0].ActingID != bob {
		t.Fatalf("sent by bob for alice: %+v %v", evs, err)
	}
}

// Which commands each scope covers.
func TestProxyScopeCovers(t *testing.T) {
	for _, c := range []struct {
		scope, cmd string
		want       bool
	}{
		{domain.ProxyScopeMessages, domain.CmdSendMessage, true},
		{domain.ProxyScopeMessages, domain.CmdEditMessage, true},
		{domain.ProxyScopeMessages, domain.CmdDeleteMessage, false},
		{domain.ProxyScopeRooms, domain.CmdDeleteMessage, true},
		{domain.ProxyScopeRooms, domain.CmdJoinRoom, true},
		{domain.ProxyScopeRooms, domain.CmdSyncDepartmentRoom, false},
		{domain.ProxyScopeRooms, domain.CmdGrantProxy, false},
		{domain.ProxyScopeRooms, domain.CmdUpdateProfile, false},
		{domain.ProxyScopeRooms, domain.CmdCreateOrganization, false},
	} {
		if got := domain.ProxyScopeCovers(c.scope, c.cmd); got != c.want {
			t.Errorf("%s covers %s: %v, want %v", c.scope, c.cmd, got, c.want)
		}
	}
}
