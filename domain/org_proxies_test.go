package domain_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// Proxies an organization authorizes (domain/organization_proxies.go): who may grant one for a
// member, and what the principal's proxies take from the server.

var (
	roleProxyAdm = domain.CustomOrgRoleIDFor(cid("role:proxyadmin"))
	sampleAuth   = domain.ProxyAuthorizationIDFor(cid("auth"))
)

func orgProxySampleData() map[string]domain.EventData {
	return map[string]domain.EventData{
		"ProxyAuthorized": domain.ProxyAuthorized{OrgID: orgID, AuthorizationID: sampleAuth, GrantID: domain.AuthorizedProxyGrantID(sampleAuth),
			PrincipalID: ted, DelegateID: vic, Scope: domain.ProxyScopeRooms, StartsAt: nowUTC, EndsAt: nowUTC.Add(48 * time.Hour),
			AuthorizedBy: dave, AuthorizedAt: nowUTC},
		"ProxyRevocationAuthorized": domain.ProxyRevocationAuthorized{OrgID: orgID, AuthorizationID: domain.ProxyAuthorizationIDFor(cid("rev")),
			GrantID: domain.AuthorizedProxyGrantID(sampleAuth), PrincipalID: ted, RevokedBy: dave, RevokedAt: nowUTC},
		"ProxyAuthorizationRefused": domain.ProxyAuthorizationRefused{OrgID: orgID, AuthorizationID: sampleAuth,
			GrantID: domain.AuthorizedProxyGrantID(sampleAuth), PrincipalID: ted, Code: domain.CodeValidationFailed,
			Message: "at most 50 grants may be in force or to come"},
	}
}

func orgProxySamplePayload(typ string) domain.CommandData {
	return map[string]domain.CommandData{
		domain.CmdAuthorizeProxy: domain.AuthorizeProxy{PrincipalID: ted, DelegateID: vic, Scope: domain.ProxyScopeMessages,
			StartsAt: nowUTC, EndsAt: nowUTC.Add(time.Hour)},
		domain.CmdRevokeOrgProxy: domain.RevokeOrgProxy{PrincipalID: ted, GrantID: domain.AuthorizedProxyGrantID(sampleAuth)},
		domain.CmdRecordProxyRefusal: domain.RecordProxyRefusal{AuthorizationID: sampleAuth, PrincipalID: ted,
			GrantID: domain.AuthorizedProxyGrantID(sampleAuth), Code: domain.CodeValidationFailed, Message: "overlap"},
	}[typ]
}

// authorize is an authorize_proxy for principal to delegate, from..to after now.
func authorize(principal, delegate uuid.UUID, scope string, from, to time.Duration) domain.AuthorizeProxy {
	return domain.AuthorizeProxy{PrincipalID: principal, DelegateID: delegate, Scope: scope, StartsAt: now.Add(from), EndsAt: now.Add(to)}
}

func authorized(key string, p domain.AuthorizeProxy, by uuid.UUID) domain.ProxyAuthorized {
	a := domain.ProxyAuthorizationIDFor(cid(key))
	return domain.ProxyAuthorized{OrgID: orgID, AuthorizationID: a, GrantID: domain.AuthorizedProxyGrantID(a), PrincipalID: p.PrincipalID,
		DelegateID: p.DelegateID, Scope: p.Scope, StartsAt: p.StartsAt.UTC(), EndsAt: p.EndsAt.UTC(), AuthorizedBy: by, AuthorizedAt: nowUTC}
}

// Authorizing a proxy needs grant_proxies over the principal: over the whole organization, or
// over a department subtree holding one of the principal's departments; both ends members; the
// grant's terms are grant_proxy's.
func TestOrgAuthorizeProxyRules(t *testing.T) {
	// bob holds grant_proxies over eng's subtree (ted is in backend, under it; vic in sales).
	withProxyAdmin := func(more ...domain.EventData) []domain.EventData {
		return acme(append([]domain.EventData{
			roleCreated(roleProxyAdm, "Proxy admin", []string{domain.PermGrantProxies}, alice),
			granted(bob, roleProxyAdm, &deptEng, alice),
		}, more...)...)
	}
	ok := authorize(ted, vic, domain.ProxyScopeMessages, 0, 24*time.Hour)
	invalid, notMember, forbid := domain.CodeValidationFailed, domain.CodeNotAMember, domain.CodeForbidden
	acting := orgCmd("a-acting", alice, ok)
	acting.ActingID = &dave
	bad := func(name string, p domain.AuthorizeProxy, code string) scenario {
		return scenario{name: name, given: withProxyAdmin(), when: orgCmd("a/"+name, alice, p), code: code}
	}
	runScenarios(t, domain.AggregateOrganization, orgID, []scenario{
		{name: "by the owner", given: acme(), when: orgCmd("a1", alice, ok), then: evs(authorized("a1", ok, alice))},
		{name: "by the org admin", given: acme(), when: orgCmd("a2", dave, ok), then: evs(authorized("a2", ok, dave))},
		{name: "by a department admin inside his subtree", given: withProxyAdmin(), when: orgCmd("a3", bob, ok), then: evs(authorized("a3", ok, bob))},
		{name: "by a department admin for someone outside his subtree", given: withProxyAdmin(),
			when: orgCmd("a4", bob, authorize(vic, ted, domain.ProxyScopeMessages, 0, time.Hour)), code: forbid},
		{name: "by a department admin for someone in no department", given: withProxyAdmin(),
			when: orgCmd("a5", bob, authorize(dave, ted, domain.ProxyScopeMessages, 0, time.Hour)), code: forbid},
		{name: "by a department admin without grant_proxies", given: acme(), when: orgCmd("a6", bob, ok), code: forbid},
		{name: "by a member", given: acme(), when: orgCmd("a7", ted, authorize(ted, vic, domain.ProxyScopeRooms, 0, time.Hour)), code: forbid},
		{name: "by a delegate", given: acme(), when: acting, code: forbid},
		{name: "the owner making himself a member's delegate", given: acme(),
			when: orgCmd("a9", alice, authorize(ted, alice, domain.ProxyScopeRooms, 0, time.Hour)), code: forbid},
		{name: "a department admin making himself a delegate inside his subtree", given: withProxyAdmin(),
			when: orgCmd("a10", bob, authorize(ted, bob, domain.ProxyScopeMessages, 0, time.Hour)), code: forbid},
		{name: "the owner authorizing his own proxy", given: acme(),
			when: orgCmd("a11", alice, authorize(alice, ted, domain.ProxyScopeRooms, 0, time.Hour)),
			then: evs(authorized("a11", authorize(alice, ted, domain.ProxyScopeRooms, 0, time.Hour), alice))},
		{name: "on an archived organization", given: acme(domain.OrganizationArchived{OrgID: orgID, ArchivedBy: alice, ArchivedAt: nowUTC}),
			when: orgCmd("a8", alice, ok), code: domain.CodeOrgArchived},
		bad("for a stranger", authorize(carol, vic, domain.ProxyScopeRooms, 0, time.Hour), notMember),
		bad("to a stranger", authorize(ted, carol, domain.ProxyScopeRooms, 0, time.Hour), notMember),
		bad("to an invitee", authorize(ted, erin, domain.ProxyScopeRooms, 0, time.Hour), notMember),
		bad("without a principal", authorize(uuid.Nil, vic, domain.ProxyScopeRooms, 0, time.Hour), invalid),
		bad("without a delegate", authorize(ted, uuid.Nil, domain.ProxyScopeRooms, 0, time.Hour), invalid),
		bad("to the principal", authorize(ted, ted, domain.ProxyScopeRooms, 0, time.Hour), invalid),
		bad("inverted", authorize(ted, vic, domain.ProxyScopeRooms, time.Hour, 0), invalid),
		bad("empty range", authorize(ted, vic, domain.ProxyScopeRooms, time.Hour, time.Hour), invalid),
		bad("ended already", authorize(ted, vic, domain.ProxyScopeRooms, -2*time.Hour, -time.Hour), invalid),
		bad("too long", authorize(ted, vic, domain.ProxyScopeRooms, 0, 400*24*time.Hour), invalid),
		bad("unknown scope", authorize(ted, vic, "everything", 0, time.Hour), invalid),

		{name: "revoke by a department admin inside", given: withProxyAdmin(), when: orgCmd("r1", bob, domain.RevokeOrgProxy{PrincipalID: ted, GrantID: domain.AuthorizedProxyGrantID(sampleAuth)}),
			then: evs(domain.ProxyRevocationAuthorized{OrgID: orgID, AuthorizationID: domain.ProxyAuthorizationIDFor(cid("r1")),
				GrantID: domain.AuthorizedProxyGrantID(sampleAuth), PrincipalID: ted, RevokedBy: bob, RevokedAt: nowUTC})},
		{name: "revoke by a department admin outside", given: withProxyAdmin(), when: orgCmd("r2", bob, domain.RevokeOrgProxy{PrincipalID: vic, GrantID: sampleAuth}), code: forbid},
		{name: "revoke of a former member by an org admin", given: acme(orgRemoved(vic, true, vic)), when: orgCmd("r3", dave, domain.RevokeOrgProxy{PrincipalID: vic, GrantID: sampleAuth}),
			then: evs(domain.ProxyRevocationAuthorized{OrgID: orgID, AuthorizationID: domain.ProxyAuthorizationIDFor(cid("r3")),
				GrantID: sampleAuth, PrincipalID: vic, RevokedBy: dave, RevokedAt: nowUTC})},
		{name: "revoke without a grant", given: acme(), when: orgCmd("r4", alice, domain.RevokeOrgProxy{PrincipalID: ted}), code: invalid},

		{name: "refusal recorded by the server, archived or not", given: acme(domain.OrganizationArchived{OrgID: orgID, ArchivedBy: alice, ArchivedAt: nowUTC}),
			when: domain.NewCommand(cid("s1"), orgID, domain.SystemActorID, "chorus", now, orgProxySamplePayload(domain.CmdRecordProxyRefusal)),
			then: evs(domain.ProxyAuthorizationRefused{OrgID: orgID, AuthorizationID: sampleAuth, GrantID: domain.AuthorizedProxyGrantID(sampleAuth),
				PrincipalID: ted, Code: domain.CodeValidationFailed, Message: "overlap"})},
		{name: "refusal without a code", given: acme(), when: domain.NewCommand(cid("s2"), orgID, domain.SystemActorID, "chorus", now,
			domain.RecordProxyRefusal{AuthorizationID: sampleAuth, PrincipalID: ted, GrantID: sampleAuth}), code: invalid},
		{name: "refusal recorded by an owner", given: acme(), when: orgCmd("s3", alice, orgProxySamplePayload(domain.CmdRecordProxyRefusal)), code: forbid},
	})
}

// relayed is the grant_proxy the process manager sends for an authorization of dave's in acme.
func relayed(auth uuid.UUID, p domain.GrantProxy) domain.Command {
	p.OrgID = &orgID
	p.Authorization = &domain.ProxyAuthorization{OrgID: orgID, AuthorizationID: auth, AuthorizedBy: dave}
	return domain.NewCommand(domain.ProxyRelayCommandID(auth), domain.ProxiesIDFor(alice), domain.SystemActorID, "chorus", now, p)
}

// The principal's proxies take an organization's grant or revocation from the server only,
// record the admin as granted_by and revoked_by, and let an organization revoke only what it
// authorized; a grant relayed again after the window of command ids is answered, not refused.
func TestProxiesTakeAnOrganizationsAuthorization(t *testing.T) {
	p := domain.NewAggregate(domain.AggregateProxies, domain.ProxiesIDFor(alice))
	auth := domain.ProxyAuthorizationIDFor(cid("org-grant"))
	cmd := relayed(auth, grantFor(bob, domain.ProxyScopeRooms, 0, 24*time.Hour))
	evs, err := p.Decide(cmd, now)
	if err != nil || len(evs) != 1 {
		t.Fatalf("relayed grant: %v %v", evs, err)
	}
	p.Apply(evs[0])
	g := evs[0].Data.(domain.ProxyGranted)
	if g.GrantID != domain.AuthorizedProxyGrantID(auth) || g.GrantedBy != dave || g.Authorization == nil ||
		g.Authorization.AuthorizationID != auth || g.OrgID == nil || *g.OrgID != orgID {
		t.Fatalf("granted %+v", g)
	}
	// Relayed again, past the partition's memory of ids: the same grant, no overlap.
	again, ok := p.(interface {
		Applied(domain.Command) ([]domain.Event, bool)
	}).Applied(cmd)
	if !ok || len(again) != 1 || again[0].Data.(domain.ProxyGranted).GrantID != g.GrantID {
		t.Errorf("relayed again: %v %v", again, ok)
	}
	// What the principal's proxies refuse: an overlap, and what is not the server's.
	other := org2()
	for name, c := range map[string]struct {
		cmd  domain.Command
		code string
	}{
		"an overlapping authorized grant": {relayed(domain.ProxyAuthorizationIDFor(cid("x1")), grantFor(bob, domain.ProxyScopeRooms, time.Hour, 2*time.Hour)), domain.CodeValidationFailed},
		"an authorization not from the server": {func() domain.Command {
			c := relayed(domain.ProxyAuthorizationIDFor(cid("x2")), grantFor(carol, domain.ProxyScopeRooms, 0, time.Hour))
			c.ActorID = alice
			return c
		}(), domain.CodeForbidden},
		"an authorized grant for another organization's rooms": {func() domain.Command {
			c := relayed(domain.ProxyAuthorizationIDFor(cid("x3")), grantFor(carol, domain.ProxyScopeRooms, 0, time.Hour))
			gp := c.Payload.(domain.GrantProxy)
			gp.OrgID = &other
			c.Payload = gp
			return c
		}(), domain.CodeValidationFailed},
		"the server without an authorization": {domain.NewCommand(cid("x4"), domain.ProxiesIDFor(alice), domain.SystemActorID, "chorus", now,
			grantFor(carol, domain.ProxyScopeRooms, 0, time.Hour)), domain.CodeForbidden},
		"a revocation by another organization": {domain.NewCommand(cid("x5"), domain.ProxiesIDFor(alice), domain.SystemActorID, "chorus", now,
			domain.RevokeProxy{GrantID: g.GrantID, Authorization: &domain.ProxyAuthorization{OrgID: other, AuthorizationID: auth, AuthorizedBy: dave}}), domain.CodeForbidden},
	} {
		v := p.Version()
		if evs, err := p.Decide(c.cmd, now); domain.CodeOf(err) != c.code || evs != nil || p.Version() != v {
			t.Errorf("%s: %v %v, want %s", name, evs, err, c.code)
		}
	}
	// The principal's own grant limited to acme is not acme's to revoke.
	own, err := decideProxies(t, p, "own", alice, nil, domain.GrantProxy{PrincipalID: alice, DelegateID: carol, Scope: domain.ProxyScopeRooms,
		OrgID: &orgID, StartsAt: now, EndsAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	revokeBy := func(grant uuid.UUID) domain.Command {
		return domain.NewCommand(domain.ProxyRelayCommandID(domain.ProxyAuthorizationIDFor(cid("rv"+grant.String()))), domain.ProxiesIDFor(alice),
			domain.SystemActorID, "chorus", now, domain.RevokeProxy{GrantID: grant,
				Authorization: &domain.ProxyAuthorization{OrgID: orgID, AuthorizationID: auth, AuthorizedBy: dave}})
	}
	if evs, err := p.Decide(revokeBy(own[0].Data.(domain.ProxyGranted).GrantID), now); domain.CodeOf(err) != domain.CodeForbidden {
		t.Errorf("acme revoked alice's own grant: %v %v", evs, err)
	}
	evs, err = p.Decide(revokeBy(g.GrantID), now)
	if err != nil || evs[0].Data.(domain.ProxyRevoked).RevokedBy != dave || evs[0].Data.(domain.ProxyRevoked).Authorization == nil {
		t.Fatalf("acme's revocation: %v %v", evs, err)
	}
}

func org2() uuid.UUID { return domain.OrgIDFor("globex") }
