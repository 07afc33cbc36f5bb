package projections

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// ProxyGrant is the contract's proxy grant: DelegateID may act for PrincipalID, from StartsAt
// to EndsAt, with the commands of Scope, in OrgID's rooms only when it is set.
type ProxyGrant struct {
	ID          uuid.UUID  `json:"id"`
	PrincipalID uuid.UUID  `json:"principal_id"`
	DelegateID  uuid.UUID  `json:"delegate_id"`
	Scope       string     `json:"scope"`
	OrgID       *uuid.UUID `json:"org_id"`
	StartsAt    time.Time  `json:"starts_at"`
	EndsAt      time.Time  `json:"ends_at"`
}

// ProxyGrantOf is the view of a grant as it was made.
func ProxyGrantOf(d domain.ProxyGranted) ProxyGrant {
	return ProxyGrant{ID: d.GrantID, PrincipalID: d.PrincipalID, DelegateID: d.DelegateID, Scope: d.Scope, OrgID: d.OrgID,
		StartsAt: d.StartsAt, EndsAt: d.EndsAt}
}

// ProxyAuthorization is a grant or revocation an organization's admin made for a member
// (domain.ProxyAuthorized, domain.ProxyRevocationAuthorized), with what became of it (Status,
// read with the read model's grants). A grant is "pending" until the read model holds it (the
// manager has not made it yet), then "granted" (in force or to come), "ended" (past its
// ends_at) or "revoked" (by anyone: RevokedBy and RevokedAt say who and when), unless "refused"
// (Code and Message say why). A revocation is "pending" until the read model no longer holds
// the grant in force, then "revoked", unless "refused".
type ProxyAuthorization struct {
	ID           uuid.UUID  `json:"id"`
	OrgID        uuid.UUID  `json:"org_id"`
	Kind         string     `json:"kind"`
	GrantID      uuid.UUID  `json:"grant_id"`
	PrincipalID  uuid.UUID  `json:"principal_id"`
	DelegateID   *uuid.UUID `json:"delegate_id,omitempty"`
	Scope        *string    `json:"scope,omitempty"`
	StartsAt     *time.Time `json:"starts_at,omitempty"`
	EndsAt       *time.Time `json:"ends_at,omitempty"`
	AuthorizedBy uuid.UUID  `json:"authorized_by"`
	AuthorizedAt time.Time  `json:"authorized_at"`
	Status       string     `json:"status"`
	Code         string     `json:"code,omitempty"`
	Message      string     `json:"message,omitempty"`
	// RevokedBy and RevokedAt: who revoked a grant, and when (status "revoked", a grant only).
	RevokedBy *uuid.UUID `json:"revoked_by,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Statuses of a proxy authorization.
const (
	ProxyStatusPending = "pending"
	ProxyStatusGranted = "granted"
	ProxyStatusEnded   = "ended"
	ProxyStatusRevoked = "revoked"
	ProxyStatusRefused = "refused"
)

// Kinds of proxy authorization.
const (
	ProxyKindGrant  = "grant"
	ProxyKindRevoke = "revoke"
)

// ProxyAuthorizationQuery selects a page of an organization's proxy authorizations, newest
// first.
type ProxyAuthorizationQuery struct {
	// Kind keeps one kind (ProxyKindGrant, ProxyKindRevoke); "" keeps both.
	Kind string
	// Scoped keeps only the authorizations whose principal is, as the directory holds it now,
	// a member of one of Departments or of a department below one of them (none: nothing).
	Scoped      bool
	Departments []uuid.UUID
	// Before keeps those after it in the order (older), nil starts at the newest.
	Before *ProxyAuthorizationCursor
	Limit  int
}

// ProxyAuthorizationCursor is where a page of authorizations ended: the last one's
// authorized_at and id.
type ProxyAuthorizationCursor struct {
	At time.Time
	ID uuid.UUID
}

// String is the cursor as handed out (next_cursor): the time in microseconds since the epoch
// and the id.
func (c ProxyAuthorizationCursor) String() string {
	return strconv.FormatInt(c.At.UnixMicro(), 10) + "_" + c.ID.String()
}

// ParseProxyAuthorizationCursor reads a cursor String made.
func ParseProxyAuthorizationCursor(s string) (ProxyAuthorizationCursor, error) {
	at, id, ok := strings.Cut(s, "_")
	if !ok {
		return ProxyAuthorizationCursor{}, errors.New("malformed cursor")
	}
	us, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return ProxyAuthorizationCursor{}, errors.New("malformed cursor")
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return ProxyAuthorizationCursor{}, errors.New("malformed cursor")
	}
	return ProxyAuthorizationCursor{At: time.UnixMicro(us).UTC(), ID: u}, nil
}
