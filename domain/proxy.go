package domain

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// User proxies (delegation): a principal lets a delegate act on their behalf for a while. The
// grants of one principal are an aggregate of their own (id ProxiesIDFor(principal), events on
// the users stream), not fields of the user aggregate: the user's snapshot form stays as it is,
// and a principal's grants are decided by one single writer. The command a delegate sends is
// decided by its own aggregate with the principal as actor; the gateway checks the grant
// against the read model before it sends it (commands.Application) and the envelope names the
// delegate in acting_id.

// AggregateProxies is the type of a principal's proxy grants.
const AggregateProxies = "proxies"

// Proxy commands and events.
const (
	CmdGrantProxy      = "grant_proxy"
	CmdRevokeProxy     = "revoke_proxy"
	TypeProxyGranted   = "ProxyGranted"
	TypeProxyRevoked   = "ProxyRevoked"
	CodeProxyNotFound  = "proxy_not_found"
	ProxyScopeMessages = "messages" // send_message and edit_message
	ProxyScopeRooms    = "rooms"    // every room command
)

// Limits of proxy grants.
const (
	// MaxProxyDuration is the longest grant: a delegation is for a holiday or a project, and
	// one that never ends is an account shared, which Chorus does not offer.
	MaxProxyDuration = 366 * 24 * time.Hour
	// MaxProxyGrants bounds the grants of one principal not yet ended, which every command of
	// their delegates is checked against.
	MaxProxyGrants = 50
)

var (
	namespaceProxies = uuid.MustParse("5d0f3c1e-8b7a-4f52-9a39-2f0d6c4b1e77")
	namespaceGrant   = uuid.MustParse("c2b4e0a1-6d3f-4e8b-b5a7-0e9f1d2c3b4a")
)

// ProxiesIDFor is the id of the aggregate holding principal's grants.
func ProxiesIDFor(principal uuid.UUID) uuid.UUID { return uuid.NewSHA1(namespaceProxies, principal[:]) }

// ProxyGrantIDFor is the id of the grant a grant_proxy command makes: a retry makes the same.
func ProxyGrantIDFor(commandID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(namespaceGrant, commandID[:])
}

// ProxyScopeCovers tells whether a grant of scope lets its delegate send commandType.
func ProxyScopeCovers(scope, commandType string) bool {
	switch scope {
	case ProxyScopeMessages:
		return commandType == CmdSendMessage || commandType == CmdEditMessage
	case ProxyScopeRooms:
		k, err := KindOfCommand(commandType)
		return err == nil && k.Name == AggregateRoom && !serverOnlyRoomCommand(commandType)
	}
	return false
}

// serverOnlyRoomCommand: room commands only the server sends (department rooms' sync).
func serverOnlyRoomCommand(t string) bool {
	return t == (SyncDepartmentRoom{}).CommandType() || t == (ReleaseDepartmentRoom{}).CommandType()
}

// GrantProxy lets DelegateID act for PrincipalID (the aggregate's principal) from StartsAt to
// EndsAt, for the commands of Scope, in the rooms of OrgID's organization only when it is set.
type GrantProxy struct {
	PrincipalID uuid.UUID  `json:"principal_id"`
	DelegateID  uuid.UUID  `json:"delegate_id"`
	Scope       string     `json:"scope"`
	OrgID       *uuid.UUID `json:"org_id,omitempty"`
	StartsAt    time.Time  `json:"starts_at"`
	EndsAt      time.Time  `json:"ends_at"`
	// Authorization is set when the server relays a grant an organization authorized (an
	// admin granting for a member, organization_proxies.go); OrgID is then that organization.
	Authorization *ProxyAuthorization `json:"authorization,omitempty"`
}

// RevokeProxy ends a grant before its time.
type RevokeProxy struct {
	GrantID uuid.UUID `json:"grant_id"`
	// Authorization is set when the server relays a revocation an organization authorized; it
	// ends only a grant that organization authorized.
	Authorization *ProxyAuthorization `json:"authorization,omitempty"`
}

// ProxyGranted records a grant.
type ProxyGranted struct {
	GrantID     uuid.UUID  `json:"grant_id"`
	PrincipalID uuid.UUID  `json:"principal_id"`
	DelegateID  uuid.UUID  `json:"delegate_id"`
	Scope       string     `json:"scope"`
	OrgID       *uuid.UUID `json:"org_id,omitempty"`
	StartsAt    time.Time  `json:"starts_at"`
	EndsAt      time.Time  `json:"ends_at"`
	// GrantedBy is the principal, or the admin whose authorization the server relayed.
	GrantedBy uuid.UUID `json:"granted_by"`
	// Authorization: the organization's authorization the grant was made under, if any.
	Authorization *ProxyAuthorization `json:"authorization,omitempty"`
}

// ProxyRevoked ends a grant.
type ProxyRevoked struct {
	GrantID     uuid.UUID `json:"grant_id"`
	PrincipalID uuid.UUID `json:"principal_id"`
	DelegateID  uuid.UUID `json:"delegate_id"`
	// RevokedBy is the principal, the delegate, or the admin whose authorization the server
	// relayed.
	RevokedBy uuid.UUID `json:"revoked_by"`
	RevokedAt time.Time `json:"revoked_at"`
	// Authorization: the organization's authorization the revocation was made under, if any.
	Authorization *ProxyAuthorization `json:"authorization,omitempty"`
}

func (GrantProxy) CommandType() string  { return CmdGrantProxy }
func (RevokeProxy) CommandType() string { return CmdRevokeProxy }
func (ProxyGranted) EventType() string  { return TypeProxyGranted }
func (ProxyRevoked) EventType() string  { return TypeProxyRevoked }

// ProxyGrant is one grant not revoked.
type ProxyGrant struct {
	ID         uuid.UUID  `json:"id"`
	DelegateID uuid.UUID  `json:"delegate_id"`
	Scope      string     `json:"scope"`
	OrgID      *uuid.UUID `json:"org_id,omitempty"`
	StartsAt   time.Time  `json:"starts_at"`
	EndsAt     time.Time  `json:"ends_at"`
	// Authorization: the organization's authorization it was made under, if any.
	Authorization *ProxyAuthorization `json:"authorization,omitempty"`
}

// Proxies is a principal's grants: those not revoked, ended ones dropped as later grants come.
type Proxies struct {
	id        uuid.UUID
	version   int64
	principal uuid.UUID
	grants    []ProxyGrant
}

// ProxiesSnapshot is the state of a Proxies aggregate.
type ProxiesSnapshot struct {
	ID        uuid.UUID    `json:"id"`
	Version   int64        `json:"version"`
	Principal uuid.UUID    `json:"principal"`
	Grants    []ProxyGrant `json:"grants,omitempty"`
}

// ID is the aggregate's id.
func (p *Proxies) ID() uuid.UUID { return p.id }

// Version is the number of events applied so far.
func (p *Proxies) Version() int64 { return p.version }

// Grants are the grants not revoked (some may have ended).
func (p *Proxies) Grants() []ProxyGrant { return slices.Clone(p.grants) }

// Snapshot copies the state.
func (p *Proxies) Snapshot() ProxiesSnapshot {
	return ProxiesSnapshot{ID: p.id, Version: p.version, Principal: p.principal, Grants: slices.Clone(p.grants)}
}

// RestoreProxies is the aggregate a snapshot was taken of.
func RestoreProxies(s ProxiesSnapshot) *Proxies {
	return &Proxies{id: s.ID, version: s.Version, principal: s.Principal, grants: slices.Clone(s.Grants)}
}

// Decide handles GrantProxy and RevokeProxy. The principal grants, or the server relaying an
// organization's authorization (organization_proxies.go); the principal or the delegate
// revokes, or the server relaying the authorization of the organization that authorized the
// grant.
func (p *Proxies) Decide(cmd Command, now time.Time) ([]Event, error) {
	switch c := cmd.Payload.(type) {
	case GrantProxy:
		return p.grant(cmd, c, now)
	case RevokeProxy:
		return p.revoke(cmd, c, now)
	default:
		return nil, reject(CodeValidationFailed, "command %s does not apply to proxy grants", cmd.Type)
	}
}

// checkProxyTerms is the rule of a grant's terms, the same for a principal's own grant and one
// an organization authorizes: a delegate other than the principal, a known scope, a range that
// has not ended and lasts at most MaxProxyDuration.
func checkProxyTerms(principal, delegate uuid.UUID, scope string, starts, ends, now time.Time) error {
	switch {
	case delegate == uuid.Nil:
		return reject(CodeValidationFailed, "delegate_id is required")
	case delegate == principal:
		return reject(CodeValidationFailed, "a proxy to yourself grants nothing")
	case scope != ProxyScopeMessages && scope != ProxyScopeRooms:
		return reject(CodeValidationFailed, "scope must be %q or %q", ProxyScopeMessages, ProxyScopeRooms)
	case starts.IsZero() || ends.IsZero():
		return reject(CodeValidationFailed, "starts_at and ends_at are required")
	case !ends.After(starts):
		return reject(CodeValidationFailed, "ends_at must be after starts_at")
	case !ends.After(now):
		return reject(CodeValidationFailed, "ends_at is in the past")
	case ends.Sub(starts) > MaxProxyDuration:
		return reject(CodeValidationFailed, "a grant lasts at most %d days", int(MaxProxyDuration/(24*time.Hour)))
	}
	return nil
}

// granter is who a grant is by: the principal, or the admin of an authorization the server
// relays (then limited to that organization's rooms).
func (p *Proxies) granter(cmd Command, c GrantProxy) (uuid.UUID, error) {
	switch {
	case cmd.ActingID != nil:
		return uuid.Nil, reject(CodeForbidden, "a delegate cannot grant proxies")
	case c.Authorization != nil:
		a := c.Authorization
		if cmd.ActorID != SystemActorID {
			return uuid.Nil, reject(CodeForbidden, "only the server relays an organization's authorization")
		}
		if a.OrgID == uuid.Nil || a.AuthorizedBy == uuid.Nil || c.OrgID == nil || *c.OrgID != a.OrgID {
			return uuid.Nil, reject(CodeValidationFailed, "an authorized grant is limited to the rooms of the organization that authorized it")
		}
		return a.AuthorizedBy, nil
	case cmd.ActorID != c.PrincipalID:
		return uuid.Nil, reject(CodeForbidden, "only the principal, or an admin of an organization with grant_proxies, can grant a proxy")
	}
	return c.PrincipalID, nil
}

func (p *Proxies) grant(cmd Command, c GrantProxy, now time.Time) ([]Event, error) {
	if c.PrincipalID == uuid.Nil || ProxiesIDFor(c.PrincipalID) != cmd.AggregateID {
		return nil, reject(CodeValidationFailed, "principal_id does not match the grants addressed")
	}
	by, err := p.granter(cmd, c)
	if err != nil {
		return nil, err
	}
	if c.OrgID != nil && *c.OrgID == uuid.Nil {
		return nil, reject(CodeValidationFailed, "org_id, when given, must be an organization id")
	}
	if err := checkProxyTerms(c.PrincipalID, c.DelegateID, c.Scope, c.StartsAt, c.EndsAt, now); err != nil {
		return nil, err
	}
	live := 0
	for _, g := range p.grants {
		if !g.EndsAt.After(now) {
			continue
		}
		live++
		// Two grants of one delegate, scope and organization that overlap would make revoking
		// one leave the other in force, which is not what a principal revoking expects.
		if g.DelegateID == c.DelegateID && g.Scope == c.Scope && sameOrg(g.OrgID, c.OrgID) &&
			g.StartsAt.Before(c.EndsAt) && c.StartsAt.Before(g.EndsAt) {
			return nil, reject(CodeValidationFailed, "grant %s already covers this delegate and scope from %s to %s",
				g.ID, g.StartsAt.Format(time.RFC3339), g.EndsAt.Format(time.RFC3339))
		}
	}
	if live >= MaxProxyGrants {
		return nil, reject(CodeValidationFailed, "at most %d grants may be in force or to come", MaxProxyGrants)
	}
	return eventsOf(cmd, p.version, now, ProxyGranted{GrantID: ProxyGrantIDFor(cmd.ID), PrincipalID: c.PrincipalID,
		DelegateID: c.DelegateID, Scope: c.Scope, OrgID: c.OrgID, StartsAt: c.StartsAt.UTC(), EndsAt: c.EndsAt.UTC(),
		GrantedBy: by, Authorization: c.Authorization}), nil
}

func (p *Proxies) revoke(cmd Command, c RevokeProxy, now time.Time) ([]Event, error) {
	i := slices.IndexFunc(p.grants, func(g ProxyGrant) bool { return g.ID == c.GrantID })
	if i < 0 {
		return nil, reject(CodeProxyNotFound, "no grant %s", c.GrantID)
	}
	g := p.grants[i]
	by := cmd.ActorID
	switch {
	case cmd.ActingID != nil:
		return nil, reject(CodeForbidden, "only the principal or the delegate can revoke a grant")
	case c.Authorization != nil:
		if cmd.ActorID != SystemActorID {
			return nil, reject(CodeForbidden, "only the server relays an organization's authorization")
		}
		if g.Authorization == nil || g.Authorization.OrgID != c.Authorization.OrgID {
			return nil, reject(CodeForbidden, "an organization revokes only the grants it authorized")
		}
		by = c.Authorization.AuthorizedBy
	case cmd.ActorID != p.principal && cmd.ActorID != g.DelegateID:
		return nil, reject(CodeForbidden, "only the principal or the delegate can revoke a grant")
	}
	return eventsOf(cmd, p.version, now, ProxyRevoked{GrantID: g.ID, PrincipalID: p.principal, DelegateID: g.DelegateID,
		RevokedBy: by, RevokedAt: now.UTC(), Authorization: c.Authorization}), nil
}

// Applied recognizes an authorized grant the server relays again (the process manager after a
// crash, past the partition's memory of command ids): its grant's id derives from the command
// id, so a grant in force with that id was made by it, and is answered as it was instead of
// being refused as an overlap of itself.
func (p *Proxies) Applied(cmd Command) ([]Event, bool) {
	c, ok := cmd.Payload.(GrantProxy)
	if !ok || c.Authorization == nil {
		return nil, false
	}
	id := ProxyGrantIDFor(cmd.ID)
	i := slices.IndexFunc(p.grants, func(g ProxyGrant) bool { return g.ID == id })
	if i < 0 {
		return nil, false
	}
	g := p.grants[i]
	return eventsOf(cmd, -1, cmd.IssuedAt, ProxyGranted{GrantID: g.ID, PrincipalID: p.principal, DelegateID: g.DelegateID,
		Scope: g.Scope, OrgID: g.OrgID, StartsAt: g.StartsAt, EndsAt: g.EndsAt, GrantedBy: g.Authorization.AuthorizedBy,
		Authorization: g.Authorization}), true
}

// Apply folds a proxy event.
func (p *Proxies) Apply(e Event) {
	p.version = e.Version
	switch d := e.Data.(type) {
	case ProxyGranted:
		p.principal = d.PrincipalID
		// Ended grants go when a new one comes: they decide nothing more, and the state stays
		// as small as the grants in force.
		p.grants = slices.DeleteFunc(p.grants, func(g ProxyGrant) bool { return !g.EndsAt.After(e.OccurredAt) })
		p.grants = append(p.grants, ProxyGrant{ID: d.GrantID, DelegateID: d.DelegateID, Scope: d.Scope, OrgID: d.OrgID,
			StartsAt: d.StartsAt, EndsAt: d.EndsAt, Authorization: d.Authorization})
	case ProxyRevoked:
		p.grants = slices.DeleteFunc(p.grants, func(g ProxyGrant) bool { return g.ID == d.GrantID })
	}
}

func sameOrg(a, b *uuid.UUID) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
