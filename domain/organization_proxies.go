package domain

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Proxies an organization authorizes: an admin holding grant_proxies over a member grants a
// proxy for that member (an assistant set up by an admin) or revokes one it made. The
// organization decides who may (authorize_proxy, revoke_org_proxy: the actor holds grant_proxies
// over the whole organization, or over a department subtree holding one of the principal's
// departments), but the grants are the principal's proxies aggregate's, another aggregate of
// another partition: a process manager (projections/orgproxies) turns each ProxyAuthorized into
// a grant_proxy, and each ProxyRevocationAuthorized into a revoke_proxy, sent by the server
// (SystemActorID) with the authorization's reference (ProxyAuthorization), which the proxies
// aggregate takes from the server only. What the proxies aggregate refuses (an overlapping
// grant, too many grants) the manager records back as ProxyAuthorizationRefused
// (record_proxy_refusal, the server's only), so nothing the organization accepted is lost
// without a trace. A grant an organization authorizes is always limited to its rooms.

// Command and event types of the proxies an organization authorizes.
const (
	CmdAuthorizeProxy             = "authorize_proxy"
	CmdRevokeOrgProxy             = "revoke_org_proxy"
	CmdRecordProxyRefusal         = "record_proxy_refusal"
	TypeProxyAuthorized           = "ProxyAuthorized"
	TypeProxyRevocationAuthorized = "ProxyRevocationAuthorized"
	TypeProxyAuthorizationRefused = "ProxyAuthorizationRefused"
	maxProxyRefusalMessageRunes   = 1000
)

var (
	namespaceProxyAuthorization = uuid.MustParse("8e3b6f4a-2c1d-4a7e-9f0b-5d6c7e8f9a01")
	namespaceProxyRelay         = uuid.MustParse("1b7e9c3d-4f2a-4d6b-8e0c-9a5f3b2d1c7e")
)

// ProxyAuthorizationIDFor is the id of the authorization an authorize_proxy or revoke_org_proxy
// command makes.
func ProxyAuthorizationIDFor(commandID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(namespaceProxyAuthorization, commandID[:])
}

// ProxyRelayCommandID is the id of the command the process manager sends to the principal's
// proxies for an authorization (its grant_proxy or revoke_proxy): every replay sends the same
// command. The grant an authorized grant_proxy makes is ProxyGrantIDFor of it.
func ProxyRelayCommandID(authorizationID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(namespaceProxyRelay, authorizationID[:])
}

// ProxyRefusalCommandID is the id of the record_proxy_refusal of an authorization.
func ProxyRefusalCommandID(authorizationID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(namespaceProxyRelay, append(authorizationID[:], 'r'))
}

// AuthorizedProxyGrantID is the id of the grant an authorize_proxy command makes, once relayed.
func AuthorizedProxyGrantID(authorizationID uuid.UUID) uuid.UUID {
	return ProxyGrantIDFor(ProxyRelayCommandID(authorizationID))
}

// ProxyAuthorization is the reference a grant or revocation the server relays for an
// organization carries: which organization authorized it, under which authorization, by whom.
type ProxyAuthorization struct {
	OrgID           uuid.UUID `json:"org_id"`
	AuthorizationID uuid.UUID `json:"authorization_id"`
	AuthorizedBy    uuid.UUID `json:"authorized_by"`
}

// AuthorizeProxy grants DelegateID a proxy for PrincipalID in this organization's rooms, from
// StartsAt to EndsAt, for the commands of Scope (grant_proxies over the principal).
type AuthorizeProxy struct {
	PrincipalID uuid.UUID `json:"principal_id"`
	DelegateID  uuid.UUID `json:"delegate_id"`
	Scope       string    `json:"scope"`
	StartsAt    time.Time `json:"starts_at"`
	EndsAt      time.Time `json:"ends_at"`
}

// RevokeOrgProxy ends a grant the organization authorized for PrincipalID (grant_proxies over
// the principal).
type RevokeOrgProxy struct {
	PrincipalID uuid.UUID `json:"principal_id"`
	GrantID     uuid.UUID `json:"grant_id"`
}

// RecordProxyRefusal records that the principal's proxies refused what an authorization asked
// (the server's only: the process manager sends it).
type RecordProxyRefusal struct {
	AuthorizationID uuid.UUID `json:"authorization_id"`
	PrincipalID     uuid.UUID `json:"principal_id"`
	GrantID         uuid.UUID `json:"grant_id"`
	Code            string    `json:"code"`
	Message         string    `json:"message"`
}

// ProxyAuthorized: an admin granted a proxy for a member, to be made by the principal's proxies
// as GrantID (AuthorizedProxyGrantID), limited to this organization's rooms.
type ProxyAuthorized struct {
	OrgID           uuid.UUID `json:"org_id"`
	AuthorizationID uuid.UUID `json:"authorization_id"`
	GrantID         uuid.UUID `json:"grant_id"`
	PrincipalID     uuid.UUID `json:"principal_id"`
	DelegateID      uuid.UUID `json:"delegate_id"`
	Scope           string    `json:"scope"`
	StartsAt        time.Time `json:"starts_at"`
	EndsAt          time.Time `json:"ends_at"`
	AuthorizedBy    uuid.UUID `json:"authorized_by"`
	AuthorizedAt    time.Time `json:"authorized_at"`
}

// ProxyRevocationAuthorized: an admin revoked a grant the organization authorized, to be ended
// by the principal's proxies.
type ProxyRevocationAuthorized struct {
	OrgID           uuid.UUID `json:"org_id"`
	AuthorizationID uuid.UUID `json:"authorization_id"`
	GrantID         uuid.UUID `json:"grant_id"`
	PrincipalID     uuid.UUID `json:"principal_id"`
	RevokedBy       uuid.UUID `json:"revoked_by"`
	RevokedAt       time.Time `json:"revoked_at"`
}

// ProxyAuthorizationRefused: the principal's proxies refused what an authorization asked, with
// the contract's code and why; the grant (or revocation) was not made.
type ProxyAuthorizationRefused struct {
	OrgID           uuid.UUID `json:"org_id"`
	AuthorizationID uuid.UUID `json:"authorization_id"`
	GrantID         uuid.UUID `json:"grant_id"`
	PrincipalID     uuid.UUID `json:"principal_id"`
	Code            string    `json:"code"`
	Message         string    `json:"message"`
}

func (AuthorizeProxy) CommandType() string          { return CmdAuthorizeProxy }
func (RevokeOrgProxy) CommandType() string          { return CmdRevokeOrgProxy }
func (RecordProxyRefusal) CommandType() string      { return CmdRecordProxyRefusal }
func (ProxyAuthorized) EventType() string           { return TypeProxyAuthorized }
func (ProxyRevocationAuthorized) EventType() string { return TypeProxyRevocationAuthorized }
func (ProxyAuthorizationRefused) EventType() string { return TypeProxyAuthorizationRefused }

// mayGrantProxiesFor tells whether actor holds grant_proxies over user: over the whole
// organization, or over a department subtree that holds one of user's departments (the scope
// rule of every permission over a member, as manage_members over a department's member).
func (o *Organization) mayGrantProxiesFor(actor, user uuid.UUID) bool {
	if o.holds(actor, PermGrantProxies, uuid.Nil) {
		return true
	}
	if m := o.members[user]; m != nil {
		for d := range m.depts {
			if o.holds(actor, PermGrantProxies, d) {
				return true
			}
		}
	}
	return false
}

func (o *Organization) needProxyAuthority(cmd Command, principal uuid.UUID) error {
	if cmd.ActingID != nil {
		return reject(CodeForbidden, "a delegate cannot grant or revoke proxies for others")
	}
	if principal == uuid.Nil {
		return reject(CodeValidationFailed, "principal_id is required")
	}
	if !o.mayGrantProxiesFor(cmd.ActorID, principal) {
		return reject(CodeForbidden, "this needs the %s permission over the organization or a department of user %s", PermGrantProxies, principal)
	}
	return nil
}

func (o *Organization) authorizeProxy(cmd Command, p AuthorizeProxy, now time.Time) ([]Event, error) {
	if err := o.needProxyAuthority(cmd, p.PrincipalID); err != nil {
		return nil, err
	}
	// grant_proxies sets up an assistant for someone; it is not the right to act as anyone in
	// one's subtree. A holder who wants to be another member's delegate asks that member (who
	// grants it with grant_proxy) or another holder.
	if p.DelegateID == cmd.ActorID && p.PrincipalID != cmd.ActorID {
		return nil, reject(CodeForbidden, "you cannot make yourself another member's delegate: the member or another holder of grant_proxies can")
	}
	if _, err := o.member(p.PrincipalID); err != nil {
		return nil, err
	}
	if err := checkProxyTerms(p.PrincipalID, p.DelegateID, p.Scope, p.StartsAt, p.EndsAt, now); err != nil {
		return nil, err
	}
	if _, err := o.member(p.DelegateID); err != nil {
		return nil, err
	}
	auth := ProxyAuthorizationIDFor(cmd.ID)
	return o.emit(cmd, now, ProxyAuthorized{OrgID: o.id, AuthorizationID: auth, GrantID: AuthorizedProxyGrantID(auth),
		PrincipalID: p.PrincipalID, DelegateID: p.DelegateID, Scope: p.Scope, StartsAt: p.StartsAt.UTC(), EndsAt: p.EndsAt.UTC(),
		AuthorizedBy: cmd.ActorID, AuthorizedAt: now.UTC()}), nil
}

// revokeOrgProxy: the principal need not be a member any more (a grant outlives a membership
// until it ends), but then only a holder of grant_proxies over the whole organization revokes.
func (o *Organization) revokeOrgProxy(cmd Command, p RevokeOrgProxy, now time.Time) ([]Event, error) {
	if err := o.needProxyAuthority(cmd, p.PrincipalID); err != nil {
		return nil, err
	}
	if p.GrantID == uuid.Nil {
		return nil, reject(CodeValidationFailed, "grant_id is required")
	}
	return o.emit(cmd, now, ProxyRevocationAuthorized{OrgID: o.id, AuthorizationID: ProxyAuthorizationIDFor(cmd.ID),
		GrantID: p.GrantID, PrincipalID: p.PrincipalID, RevokedBy: cmd.ActorID, RevokedAt: now.UTC()}), nil
}

// recordProxyRefusal is the server's (Decide sends nobody else here) and takes its word, also on
// an archived organization: the authorization it settles was accepted before.
func (o *Organization) recordProxyRefusal(cmd Command, p RecordProxyRefusal, now time.Time) ([]Event, error) {
	if !o.created {
		return nil, reject(CodeOrgNotFound, "organization %s does not exist", cmd.AggregateID)
	}
	if cmd.ActingID != nil {
		return nil, reject(CodeForbidden, "only the server records what a principal's proxies refused")
	}
	if p.AuthorizationID == uuid.Nil || p.PrincipalID == uuid.Nil || p.GrantID == uuid.Nil || strings.TrimSpace(p.Code) == "" {
		return nil, reject(CodeValidationFailed, "authorization_id, principal_id, grant_id and code are required")
	}
	msg := p.Message
	if utf8.RuneCountInString(msg) > maxProxyRefusalMessageRunes {
		msg = string([]rune(msg)[:maxProxyRefusalMessageRunes])
	}
	return o.emit(cmd, now, ProxyAuthorizationRefused{OrgID: o.id, AuthorizationID: p.AuthorizationID, GrantID: p.GrantID,
		PrincipalID: p.PrincipalID, Code: p.Code, Message: msg}), nil
}
