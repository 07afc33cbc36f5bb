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
