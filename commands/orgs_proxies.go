package commands

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// Proxies an organization's admin grants for a member (authorize_proxy) or revokes
// (revoke_org_proxy), decided by the organization (domain/organization_proxies.go) and made by
// the principal's proxies when the process manager relays them (projections/orgproxies). The use
// cases wait, bounded by PositionWait, until the outcome is known: the grant in the read model
// (or gone from it), or the refusal the manager recorded; they answer the grant, or the
// refusal's code, or, when the wait ends first, the authorization still pending (202 over HTTP).

// OrgProxies reads the organizations' proxy authorizations (orgproxies.Store): one by id,
// projections.ErrNotFound while the manager has not applied it.
type OrgProxies interface {
	ProxyAuthorization(ctx context.Context, org, id uuid.UUID) (projections.ProxyAuthorization, error)
}

// proxyPoll is how often a use case looks at what became of its authorization.
const proxyPoll = 25 * time.Millisecond

// OrgProxyResult is the answer of authorize_proxy and revoke_org_proxy: the authorization with
// its status, the grant once made (authorize_proxy), and the command's position.
type OrgProxyResult struct {
	Authorization projections.ProxyAuthorization `json:"authorization"`
	Grant         *projections.ProxyGrant        `json:"grant,omitempty"`
	Position      string                         `json:"position"`
}

// Pending tells the transports that the outcome is not known yet (HTTP answers 202).
func (r OrgProxyResult) Pending() bool {
	return r.Authorization.Status == projections.ProxyStatusPending
}

// AuthorizeProxy is the input of authorize_proxy: the grant_proxy fields with the principal,
// on OrgID (whose rooms the grant is limited to).
type AuthorizeProxy struct {
	OrgID       uuid.UUID
	PrincipalID *string
	GrantProxy
}

// Check finds what is missing or malformed in the input.
func (in AuthorizeProxy) Check() error {
	if _, err := ParseID("principal_id", in.PrincipalID); err != nil {
		return err
	}
	return in.GrantProxy.Check()
}

// AuthorizeProxy grants a proxy for a member of the organization (grant_proxies over them). An
// overlap with a grant in the read model, or a principal at MaxProxyGrants, is refused here,
// before the organization accepts what the principal's proxies would refuse.
func (a *Application) AuthorizeProxy(ctx context.Context, actor uuid.UUID, in AuthorizeProxy) (Action, error) {
	if err := checkKey(in.Key); err != nil {
		return Action{}, err
	}
	if err := in.Check(); err != nil {
		return Action{}, err
	}
	principal, _ := ParseID("principal_id", in.PrincipalID)
	delegate, _ := ParseID("delegate_id", in.DelegateID)
	ends, _ := time.Parse(time.RFC3339Nano, *in.EndsAt)
	starts := time.Now().UTC()
	if in.StartsAt != nil {
		starts, _ = time.Parse(time.RFC3339Nano, *in.StartsAt)
	}
	if err := a.precheckGrant(ctx, principal, delegate, in.Scope, in.OrgID, starts, ends); err != nil {
		return Action{}, err
	}
	p := domain.AuthorizeProxy{PrincipalID: principal, DelegateID: delegate, Scope: in.Scope, StartsAt: starts, EndsAt: ends}
	return a.prepare(ctx, actor, in.OrgID, in.Key, p, func(r Reply) (any, error) {
		d, err := eventData[domain.ProxyAuthorized](r)
		if err != nil {
			return nil, err
		}
		res, err := a.awaitAuthorization(ctx, d.OrgID, d.AuthorizationID, projections.ProxyStatusGranted, r.Position)
		if err == nil && res.Authorization.Status == projections.ProxyStatusGranted {
			org := d.OrgID
			res.Grant = &projections.ProxyGrant{ID: d.GrantID, PrincipalID: d.PrincipalID, DelegateID: d.DelegateID, Scope: d.Scope,
				OrgID: &org, StartsAt: d.StartsAt, EndsAt: d.EndsAt}
		}
		if err == nil && res.Authorization.ID == uuid.Nil {
			res.Authorization = pendingOf(d)
		}
		return res, err
	})
}

// precheckGrant refuses, from the read model, what the principal's proxies would refuse.
func (a *Application) precheckGrant(ctx context.Context, principal, delegate uuid.UUID, scope string, org uuid.UUID, starts, ends time.Time) error {
	if a.proxyLookups == nil {
		return nil
	}
	grants, err := a.proxyLookups.ProxyGrantsOf(ctx, principal, time.Now())
	if err != nil {
		return err
	}
	live := 0
	for _, g := range grants {
		if g.PrincipalID != principal {
			continue
		}
		live++
		if g.DelegateID == delegate && g.Scope == scope && g.OrgID != nil && *g.OrgID == org &&
			g.StartsAt.Before(ends) && starts.Before(g.EndsAt) {
			return newError(domain.CodeValidationFailed, "grant %s already covers this delegate and scope from %s to %s",
				g.ID, g.StartsAt.Format(time.RFC3339), g.EndsAt.Format(time.RFC3339))
		}
	}
	if live >= domain.MaxProxyGrants {
		return newError(domain.CodeValidationFailed, "at most %d grants may be in force or to come", domain.MaxProxyGrants)
	}
	return nil
}

// RevokeOrgProxy ends a grant the organization authorized (grant_proxies over its principal).
// A grant the read model does not hold for this organization is proxy_not_found.
func (a *Application) RevokeOrgProxy(ctx context.Context, actor, org, grant uuid.UUID, key string) (Action, error) {
	if err := checkKey(key); err != nil {
		return Action{}, err
	}
	if a.proxyLookups == nil {
		return Action{}, newError(CodeUnavailable, "proxy grants are not available on this gateway")
	}
	g, err := a.proxyLookups.ProxyGrant(ctx, grant)
	if errors.Is(err, projections.ErrNotFound) || (err == nil && (g.OrgID == nil || *g.OrgID != org)) {
		return Action{}, newError(domain.CodeProxyNotFound, "no grant %s in this organization's rooms", grant)
	}
	if err != nil {
		return Action{}, err
	}
	return a.prepare(ctx, actor, org, key, domain.RevokeOrgProxy{PrincipalID: g.PrincipalID, GrantID: grant}, func(r Reply) (any, error) {
		d, err := eventData[domain.ProxyRevocationAuthorized](r)
		if err != nil {
			return nil, err
		}
		res, err := a.awaitAuthorization(ctx, d.OrgID, d.AuthorizationID, projections.ProxyStatusRevoked, r.Position)
		if err == nil && res.Authorization.ID == uuid.Nil {
			res.Authorization = projections.ProxyAuthorization{ID: d.AuthorizationID, OrgID: d.OrgID, Kind: projections.ProxyKindRevoke, GrantID: d.GrantID,
				PrincipalID: d.PrincipalID, AuthorizedBy: d.RevokedBy, AuthorizedAt: d.RevokedAt, Status: projections.ProxyStatusPending}
		}
		return res, err
	})
}

func pendingOf(d domain.ProxyAuthorized) projections.ProxyAuthorization {
	return projections.ProxyAuthorization{ID: d.AuthorizationID, OrgID: d.OrgID, Kind: projections.ProxyKindGrant, GrantID: d.GrantID,
		PrincipalID: d.PrincipalID, DelegateID: &d.DelegateID, Scope: &d.Scope, StartsAt: &d.StartsAt, EndsAt: &d.EndsAt,
		AuthorizedBy: d.AuthorizedBy, AuthorizedAt: d.AuthorizedAt, Status: projections.ProxyStatusPending}
}

// awaitAuthorization waits, at most PositionWait, until the authorization reaches done or is
// refused: a refusal is its code as the error; a wait that ends first answers it pending (its
// view left empty when the manager has not applied it yet).
func (a *Application) awaitAuthorization(ctx context.Context, org, id uuid.UUID, done, position string) (OrgProxyResult, error) {
	res := OrgProxyResult{Position: position}
	if a.orgProxies == nil {
		return res, nil
	}
	deadline := time.Now().Add(a.positionWait)
	for {
		v, err := a.orgProxies.ProxyAuthorization(ctx, org, id)
		switch {
		case err == nil && v.Status == projections.ProxyStatusRefused:
			return res, &domain.Error{Code: v.Code, Message: "the principal's proxies refused it: " + v.Message}
		case err == nil && (v.Status == done || done == projections.ProxyStatusGranted &&
			(v.Status == projections.ProxyStatusEnded || v.Status == projections.ProxyStatusRevoked)):
			// A grant made and revoked (or ended) before the answer was made all the same.
			res.Authorization = v
			return res, nil
		case err != nil && !errors.Is(err, projections.ErrNotFound):
			return res, err
		case err == nil:
			res.Authorization = v
			res.Authorization.Status = projections.ProxyStatusPending
		}
		if !time.Now().Before(deadline) {
			return res, nil
		}
		select {
		case <-ctx.Done():
			return res, nil
		case <-time.After(proxyPoll):
		}
	}
}
