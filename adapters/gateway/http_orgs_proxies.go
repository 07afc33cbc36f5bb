package gateway

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/queries"
)

// An organization's admin grants a proxy for a member, or revokes one the organization made
// (docs/protocol.md, "Proxies an organization grants"): 201 (200 for a revocation) once the
// outcome is known, the refusal's code if the principal's proxies refused it, 202 with the
// authorization pending when the wait ended first.

type authorizeProxyRequest struct {
	PrincipalID *string `json:"principal_id"`
	grantProxyRequest
}

// authorizeProxy: POST /orgs/{id}/proxies {principal_id, delegate_id, scope, starts_at?, ends_at}.
func (g *Gateway) authorizeProxy(c echo.Context) error {
	org, err := orgParam(c)
	if err != nil {
		return err
	}
	var req authorizeProxyRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	act, err := g.app.AuthorizeProxy(c.Request().Context(), currentUser(c), commands.AuthorizeProxy{OrgID: org,
		PrincipalID: req.PrincipalID, GrantProxy: req.input(idempotencyKey(c))})
	return g.answer(c, http.StatusCreated, act, err)
}

// revokeOrgProxy: DELETE /orgs/{id}/proxies/{grant_id}.
func (g *Gateway) revokeOrgProxy(c echo.Context) error {
	org, err := orgParam(c)
	if err != nil {
		return err
	}
	grant, err := idParam(c, "grant_id", domain.CodeProxyNotFound, "no such grant")
	if err != nil {
		return err
	}
	act, err := g.app.RevokeOrgProxy(c.Request().Context(), currentUser(c), org, grant, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}

// orgProxyGrants: GET /orgs/{id}/proxies?limit=&cursor=&position=: the grants the organization's
// admins made, newest first, each with its status (queries.OrgProxyGrants says who reads which).
func (g *Gateway) orgProxyGrants(c echo.Context) error {
	read, err := g.orgRead(c)
	if err != nil {
		return err
	}
	limit, err := intParam(c, "limit", queries.DefaultOrgProxiesLimit, 1, queries.MaxOrgProxiesLimit)
	if err != nil {
		return err
	}
	page, err := g.queries.OrgProxyGrants(c.Request().Context(), currentUser(c),
		queries.OrgProxyGrants{OrgRead: read, Limit: int(limit), Cursor: c.QueryParam("cursor")})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}
