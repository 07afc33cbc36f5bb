package projections

import (
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
// read with the read model's grants): "granted" (a grant in force or to come), "refused" (Code
// and Message say why), "revoked" (a revocation the read model has applied), "pending" (a
// revocation, or a grant just made, not applied yet) or "not_in_force" (a grant the read model
// does not hold: not made yet, or revoked or ended since).
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
}

// Statuses of a proxy authorization.
const (
	ProxyStatusPending    = "pending"
	ProxyStatusGranted    = "granted"
	ProxyStatusRevoked    = "revoked"
	ProxyStatusRefused    = "refused"
	ProxyStatusNotInForce = "not_in_force"
)
