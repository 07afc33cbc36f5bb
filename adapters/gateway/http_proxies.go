package gateway

import (
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

// onBehalfOfHeader names the principal a delegate sends a room command for (docs/protocol.md,
// User proxies); the frame field is on_behalf_of.
const onBehalfOfHeader = "On-Behalf-Of"

// grantProxyRequest is the body of POST /users/me/proxies and the fields of grant_proxy.
type grantProxyRequest struct {
	DelegateID *string `json:"delegate_id"`
	Scope      string  `json:"scope"`
	OrgID      *string `json:"org_id"`
	StartsAt   *string `json:"starts_at"`
	EndsAt     *string `json:"ends_at"`
}

func (r grantProxyRequest) input(key string) commands.GrantProxy {
	return commands.GrantProxy{DelegateID: r.DelegateID, Scope: r.Scope, OrgID: r.OrgID, StartsAt: r.StartsAt, EndsAt: r.EndsAt, Key: key}
}

// grantProxy: POST /users/me/proxies.
func (g *Gateway) grantProxy(c echo.Context) error {
	var req grantProxyRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	act, err := g.app.GrantProxy(c.Request().Context(), currentUser(c), req.input(idempotencyKey(c)))
	return g.answer(c, http.StatusCreated, act, err)
}

// revokeProxy: DELETE /users/{id}/proxies/{grant_id}, {id} the principal ("me" for oneself; a
// delegate gives up a grant under its principal's id).
func (g *Gateway) revokeProxy(c echo.Context) error {
	principal := currentUser(c)
	if p := c.Param("id"); p != "me" {
		id, err := uuid.Parse(p)
		if err != nil {
			return &apiError{Code: codeUserNotFound, Message: "no such user"}
		}
		principal = id
	}
	grant, err := idParam(c, "grant_id", domain.CodeProxyNotFound, "no such grant")
	if err != nil {
		return err
	}
	act, err := g.app.RevokeProxy(c.Request().Context(), currentUser(c), principal, grant, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}

// principalOf reads On-Behalf-Of: the user a delegate acts for, or uuid.Nil when absent.
func principalOf(c echo.Context) (uuid.UUID, error) {
	raw := strings.TrimSpace(c.Request().Header.Get(onBehalfOfHeader))
	if raw == "" {
		return uuid.Nil, nil
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, errValidation("%s must be a user id", onBehalfOfHeader)
	}
	return id, nil
}

// listProxies: GET /users/me/proxies?position= (queries.Proxies).
func (g *Gateway) listProxies(c echo.Context) error {
	list, err := g.queries.Proxies(c.Request().Context(), currentUser(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}
