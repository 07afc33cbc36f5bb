package queries

import (
	"context"
	"slices"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/directory"
)

// OrgProxies reads the proxies organizations authorized (orgproxies.Store): a page of an
// organization's authorizations with what became of each, and the cursor of the next page.
type OrgProxies interface {
	ProxyAuthorizations(ctx context.Context, org uuid.UUID, q projections.ProxyAuthorizationQuery) (
		[]projections.ProxyAuthorization, *projections.ProxyAuthorizationCursor, error)
}

// Page sizes of an organization's proxy grants.
const (
	DefaultOrgProxiesLimit = 100
	MaxOrgProxiesLimit     = 500
)

// OrgProxyGrants is the input of the list of the grants an organization's admins made.
type OrgProxyGrants struct {
	OrgRead
	// Limit is the page size, 0 for DefaultOrgProxiesLimit.
	Limit int
	// Cursor is where the previous page ended, as it was handed out; "" starts at the newest.
	Cursor string
}

// Check refuses a page size out of bounds and a cursor that is not one.
func (in OrgProxyGrants) Check() error {
	_, err := in.query()
	return err
}

func (in OrgProxyGrants) query() (projections.ProxyAuthorizationQuery, error) {
	q := projections.ProxyAuthorizationQuery{Kind: projections.ProxyKindGrant, Limit: in.Limit}
	if q.Limit == 0 {
		q.Limit = DefaultOrgProxiesLimit
	}
	if q.Limit < 0 || q.Limit > MaxOrgProxiesLimit {
		return q, errValidation("limit must be from 1 to %d", MaxOrgProxiesLimit)
	}
	if in.Cursor != "" {
		cur, err := projections.ParseProxyAuthorizationCursor(in.Cursor)
		if err != nil {
			return q, errValidation("cursor is malformed: pass back a next_cursor as it was given")
		}
		q.Before = &cur
	}
	return q, nil
}

// OrgProxyGrantPage is a page of the grants an organization's admins made, newest first, and
// the cursor of the next (older) page, null on the last.
type OrgProxyGrantPage struct {
	Authorizations []projections.ProxyAuthorization `json:"authorizations"`
	NextCursor     *string                          `json:"next_cursor"`
}

// OrgProxyGrants lists the grants an organization's admins made for its members
// (authorize_proxy), each with its status: pending, granted, ended, revoked or refused.
// Members only (org_not_found to others), and of them those holding grant_proxies: over the
// whole organization, every grant; over department subtrees, the grants whose principal is a
// member of one of them now (the rule the organization decides an admin's grant by); nobody
// else (forbidden). Like the online-time report, it is decided from the grants as the
// directory holds them.
func (a *Application) OrgProxyGrants(ctx context.Context, viewer uuid.UUID, in OrgProxyGrants) (OrgProxyGrantPage, error) {
	q, err := in.query()
	if err != nil {
		return OrgProxyGrantPage{}, err
	}
	if err := a.memberOf(ctx, viewer, in.OrgRead); err != nil {
		return OrgProxyGrantPage{}, err
	}
	if a.orgProx == nil {
		return OrgProxyGrantPage{}, newError(CodeUnavailable, "the organizations' proxies are not available on this gateway")
	}
	all, depts, err := a.permScopes(ctx, in.OrgID, viewer, domain.PermGrantProxies)
	if err != nil {
		return OrgProxyGrantPage{}, err
	}
	if !all && len(depts) == 0 {
		return OrgProxyGrantPage{}, &Error{Code: domain.CodeForbidden, Message: "reading the organization's proxies needs grant_proxies"}
	}
	if !all {
		q.Scoped, q.Departments = true, depts
	}
	list, next, err := a.orgProx.ProxyAuthorizations(ctx, in.OrgID, q)
	if err != nil {
		return OrgProxyGrantPage{}, err
	}
	out := OrgProxyGrantPage{Authorizations: list}
	if out.Authorizations == nil {
		out.Authorizations = []projections.ProxyAuthorization{}
	}
	if next != nil {
		s := next.String()
		out.NextCursor = &s
	}
	return out, nil
}

// permScopes tells where user holds perm in org: over the whole organization (all), or over
// the subtrees of depts; neither when they hold it nowhere.
func (a *Application) permScopes(ctx context.Context, org, user uuid.UUID, perm string) (all bool, depts []uuid.UUID, err error) {
	grants, err := a.dir.Grants(ctx, org, directory.GrantQuery{UserID: &user})
	if err != nil {
		return false, nil, err
	}
	roles, err := a.dir.Roles(ctx, org)
	if err != nil {
		return false, nil, err
	}
	for _, g := range grants {
		i := slices.IndexFunc(roles, func(r directory.Role) bool { return r.ID == g.RoleID })
		if i < 0 || !slices.Contains(roles[i].Permissions, perm) {
			continue
		}
		if g.DepartmentID == nil {
			return true, nil, nil
		}
		if !slices.Contains(depts, *g.DepartmentID) {
			depts = append(depts, *g.DepartmentID)
		}
	}
	return false, depts, nil
}
