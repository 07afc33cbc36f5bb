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
}

// RevokeProxy ends a grant before its time.
type RevokeProxy struct {
	GrantID uuid.UUID `json:"grant_id"`
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
	GrantedBy   uuid.UUID  `json:"granted_by"`
}

// ProxyRevoked ends a grant.
type ProxyRevoked struct {
	GrantID     uuid.UUID `json:"grant_id"`
	PrincipalID uuid.UUID `json:"principal_id"`
	DelegateID  uuid.UUID `json:"delegate_id"`
	RevokedBy   uuid.UUID `json:"revoked_by"`
	RevokedAt   time.Time `json:"revoked_at"`
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

// Decide handles GrantProxy and RevokeProxy. Only the principal grants (an admin granting for
// a member, with grant_proxies, is not built yet); the principal or the delegate revokes.
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

func (p *Proxies) grant(cmd Command, c GrantProxy, now time.Time) ([]Event, error) {
	switch {
	case c.PrincipalID == uuid.Nil || ProxiesIDFor(c.PrincipalID) != cmd.AggregateID:
		return nil, reject(CodeValidationFailed, "principal_id does not match the grants addressed")
	case cmd.ActingID != nil:
		return nil, reject(CodeForbidden, "a delegate cannot grant proxies")
	case cmd.ActorID != c.PrincipalID:
		return nil, reject(CodeForbidden, "only the principal can grant a proxy for themselves")
	case c.DelegateID == uuid.Nil:
		return nil, reject(CodeValidationFailed, "delegate_id is required")
	case c.DelegateID == c.PrincipalID:
		return nil, reject(CodeValidationFailed, "a proxy to yourself grants nothing")
	case c.Scope != ProxyScopeMessages && c.Scope != ProxyScopeRooms:
		return nil, reject(CodeValidationFailed, "scope must be %q or %q", ProxyScopeMessages, ProxyScopeRooms)
	case c.OrgID != nil && *c.OrgID == uuid.Nil:
		return nil, reject(CodeValidationFailed, "org_id, when given, must be an organization id")
	case c.StartsAt.IsZero() || c.EndsAt.IsZero():
		return nil, reject(CodeValidationFailed, "starts_at and ends_at are required")
	case !c.EndsAt.After(c.StartsAt):
		return nil, reject(CodeValidationFailed, "ends_at must be after starts_at")
	case !c.EndsAt.After(now):
		return nil, reject(CodeValidationFailed, "ends_at is in the past")
	case c.EndsAt.Sub(c.StartsAt) > MaxProxyDuration:
		return nil, reject(CodeValidationFailed, "a grant lasts at most %d days", int(MaxProxyDuration/(24*time.Hour)))
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
		GrantedBy: cmd.ActorID}), nil
}

func (p *Proxies) revoke(cmd Command, c RevokeProxy, now time.Time) ([]Event, error) {
	i := slices.IndexFunc(p.grants, func(g ProxyGrant) bool { return g.ID == c.GrantID })
	if i < 0 {
		return nil, reject(CodeProxyNotFound, "no grant %s", c.GrantID)
	}
	g := p.grants[i]
	if cmd.ActingID != nil || (cmd.ActorID != p.principal && cmd.ActorID != g.DelegateID) {
		return nil, reject(CodeForbidden, "only the principal or the delegate can revoke a grant")
	}
	return eventsOf(cmd, p.version, now, ProxyRevoked{GrantID: g.ID, PrincipalID: p.principal, DelegateID: g.DelegateID,
		RevokedBy: cmd.ActorID, RevokedAt: now.UTC()}), nil
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
			StartsAt: d.StartsAt, EndsAt: d.EndsAt})
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
