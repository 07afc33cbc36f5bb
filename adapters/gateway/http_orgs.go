package gateway

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

// The organization commands over HTTP, under /api/v1/orgs (docs/protocol.md, "Organizations").
// The scheme: a collection takes a creation by POST (201, the new thing in the answer), a thing
// is changed by PATCH and deleted by DELETE; a relation named by its two ends (a member of a
// department, a member's role, a department's head) is set by PUT and ended by DELETE; a verb
// that is neither (archive, leave, move, accept) is a POST to /…/{verb}. {id} is the
// organization's id; an id of the path that is not one names nothing (the not-found code of its
// kind). Every handler decodes, calls the use case and answers; this file has the organization
// and its members, http_orgs_structure.go its departments, positions and roles.

// orgRoutes mounts the organization commands (under api, with the middleware of a command).
func (g *Gateway) orgRoutes(api *echo.Group, mw ...echo.MiddlewareFunc) {
	api.POST("/orgs", g.createOrg, mw...)
	api.PATCH("/orgs/:id", g.updateOrg, mw...)
	api.POST("/orgs/:id/archive", g.orgVerb(g.app.ArchiveOrganization), mw...)
	api.POST("/orgs/:id/unarchive", g.orgVerb(g.app.UnarchiveOrganization), mw...)
	api.POST("/orgs/:id/members", g.addOrgMember, mw...)
	api.DELETE("/orgs/:id/members/:user_id", g.removeOrgMember, mw...)
	api.POST("/orgs/:id/leave", g.orgVerb(g.app.LeaveOrganization), mw...)
	api.POST("/orgs/:id/invitations", g.inviteOrgMember, mw...)
	api.POST("/orgs/:id/invitation/accept", g.orgVerb(g.app.AcceptOrgInvitation), mw...)
	api.POST("/orgs/:id/invitation/decline", g.orgVerb(g.app.DeclineOrgInvitation), mw...)
	api.POST("/orgs/:id/broadcasts", g.broadcastToOrg, mw...)

	api.POST("/orgs/:id/departments", g.createDepartment, mw...)
	api.PATCH("/orgs/:id/departments/:dept_id", g.renameDepartment, mw...)
	api.POST("/orgs/:id/departments/:dept_id/move", g.moveDepartment, mw...)
	api.DELETE("/orgs/:id/departments/:dept_id", g.deleteDepartment, mw...)
	api.PUT("/orgs/:id/departments/:dept_id/head", g.setDepartmentHead, mw...)
	api.POST("/orgs/:id/departments/:dept_id/room", g.createDepartmentRoom, mw...)
	api.PUT("/orgs/:id/departments/:dept_id/members/:user_id", g.addDepartmentMember, mw...)
	api.DELETE("/orgs/:id/departments/:dept_id/members/:user_id", g.removeDepartmentMember, mw...)
	api.POST("/orgs/:id/departments/:dept_id/members/:user_id/primary", g.setPrimaryDepartment, mw...)
	api.PUT("/orgs/:id/departments/:dept_id/members/:user_id/position", g.assignPosition, mw...)
	api.DELETE("/orgs/:id/departments/:dept_id/members/:user_id/position", g.unassignPosition, mw...)

	api.POST("/orgs/:id/positions", g.definePosition, mw...)
	api.PATCH("/orgs/:id/positions/:position_id", g.updatePosition, mw...)
	api.DELETE("/orgs/:id/positions/:position_id", g.deletePosition, mw...)

	api.POST("/orgs/:id/roles", g.createOrgRole, mw...)
	api.PATCH("/orgs/:id/roles/:role_id", g.updateOrgRole, mw...)
	api.DELETE("/orgs/:id/roles/:role_id", g.deleteOrgRole, mw...)
	api.PUT("/orgs/:id/members/:user_id/roles/:role_id", g.grantOrgRole, mw...)
	api.DELETE("/orgs/:id/members/:user_id/roles/:role_id", g.revokeOrgRole, mw...)

	api.POST("/orgs/:id/proxies", g.authorizeProxy, mw...) // http_orgs_proxies.go
	api.DELETE("/orgs/:id/proxies/:grant_id", g.revokeOrgProxy, mw...)
}

type createOrgRequest struct {
	Name        *string `json:"name"`
	Slug        *string `json:"slug"`
	Description string  `json:"description"`
	TimeZone    string  `json:"time_zone"`
}

// createOrg: POST /orgs {name, slug, description?, time_zone?}: any signed-in user, who
// becomes the owner. 201 with the organization.
func (g *Gateway) createOrg(c echo.Context) error {
	var req createOrgRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	act, err := g.app.CreateOrganization(c.Request().Context(), currentUser(c), commands.CreateOrganization{
		Name: req.Name, Slug: req.Slug, Description: req.Description, TimeZone: req.TimeZone, Key: idempotencyKey(c),
	})
	return g.answer(c, http.StatusCreated, act, err)
}

type updateOrgRequest struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	TimeZone    *string `json:"time_zone"`
}

// updateOrg: PATCH /orgs/{id} {name?, description?, time_zone?}: manage_organization.
func (g *Gateway) updateOrg(c echo.Context) error {
	orgID, err := orgParam(c)
	if err != nil {
		return err
	}
	var req updateOrgRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	act, err := g.app.UpdateOrganization(c.Request().Context(), currentUser(c), commands.UpdateOrganization{
		OrgID: orgID, Name: req.Name, Description: req.Description, TimeZone: req.TimeZone, Key: idempotencyKey(c),
	})
	return g.answer(c, http.StatusOK, act, err)
}

// orgVerb is the handler of a POST /orgs/{id}/… that takes no body and answers 200 with the
// command's position: archive, unarchive, leave, accepting and declining an invitation.
func (g *Gateway) orgVerb(use func(ctx context.Context, actor, orgID uuid.UUID, key string) (commands.Action, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		orgID, err := orgParam(c)
		if err != nil {
			return err
		}
		act, err := use(c.Request().Context(), currentUser(c), orgID, idempotencyKey(c))
		return g.answer(c, http.StatusOK, act, err)
	}
}

type orgUserRequest struct {
	UserID *string `json:"user_id"`
}

// orgUserBody is the organization of the path and the user_id of the body.
func orgUserBody(c echo.Context) (uuid.UUID, uuid.UUID, error) {
	orgID, err := orgParam(c)
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	var req orgUserRequest
	if err := readBody(c, &req, false); err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	userID, err := commands.ParseID("user_id", req.UserID)
	return orgID, userID, err
}

// addOrgMember: POST /orgs/{id}/members {user_id}: manage_members. 201: a new membership.
func (g *Gateway) addOrgMember(c echo.Context) error {
	orgID, userID, err := orgUserBody(c)
	if err != nil {
		return err
	}
	act, err := g.app.AddOrgMember(c.Request().Context(), currentUser(c), orgID, userID, idempotencyKey(c))
	return g.answer(c, http.StatusCreated, act, err)
}

// inviteOrgMember: POST /orgs/{id}/invitations {user_id}: manage_members. 201: a new
// invitation.
func (g *Gateway) inviteOrgMember(c echo.Context) error {
	orgID, userID, err := orgUserBody(c)
	if err != nil {
		return err
	}
	act, err := g.app.InviteOrgMember(c.Request().Context(), currentUser(c), orgID, userID, idempotencyKey(c))
	return g.answer(c, http.StatusCreated, act, err)
}

// removeOrgMember: DELETE /orgs/{id}/members/{user_id}: manage_members (never the last owner).
func (g *Gateway) removeOrgMember(c echo.Context) error {
	orgID, err := orgParam(c)
	if err != nil {
		return err
	}
	userID, err := userParam(c)
	if err != nil {
		return err
	}
	act, err := g.app.RemoveOrgMember(c.Request().Context(), currentUser(c), orgID, userID, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}

type broadcastRequest struct {
	Title *string `json:"title"`
	Body  *string `json:"body"`
}

// broadcastToOrg: POST /orgs/{id}/broadcasts {title, body}: broadcast. 201 with the broadcast.
func (g *Gateway) broadcastToOrg(c echo.Context) error {
	orgID, err := orgParam(c)
	if err != nil {
		return err
	}
	var req broadcastRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	act, err := g.app.BroadcastToOrganization(c.Request().Context(), currentUser(c), commands.BroadcastToOrganization{
		OrgID: orgID, Title: req.Title, Body: req.Body, Key: idempotencyKey(c),
	})
	return g.answer(c, http.StatusCreated, act, err)
}

// idParam is the id in path parameter param; a malformed one names nothing: notFound with msg.
func idParam(c echo.Context, param, notFound, msg string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param(param))
	if err != nil {
		return uuid.Nil, &apiError{Code: notFound, Message: msg}
	}
	return id, nil
}

// orgParam is the organization id of /orgs/{id}/….
func orgParam(c echo.Context) (uuid.UUID, error) {
	return idParam(c, "id", domain.CodeOrgNotFound, "no such organization")
}

func userParam(c echo.Context) (uuid.UUID, error) {
	return idParam(c, "user_id", domain.CodeUserNotFound, "no such user")
}

func deptParam(c echo.Context) (uuid.UUID, error) {
	return idParam(c, "dept_id", domain.CodeDepartmentNotFound, "no such department")
}

// orgAnd are the organization of /orgs/{id}/… and the id of path parameter name below it; a
// malformed one is 404 with code and msg.
func orgAnd(c echo.Context, name, code, msg string) (uuid.UUID, uuid.UUID, error) {
	orgID, err := orgParam(c)
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	id, err := idParam(c, name, code, msg)
	return orgID, id, err
}

// orgAndDept are the organization and department of /orgs/{id}/departments/{dept_id}/….
func orgAndDept(c echo.Context) (uuid.UUID, uuid.UUID, error) {
	return orgAnd(c, "dept_id", domain.CodeDepartmentNotFound, "no such department")
}

// orgDeptUser are the ids of /orgs/{id}/departments/{dept_id}/members/{user_id}/….
func orgDeptUser(c echo.Context) (org, dept, user uuid.UUID, err error) {
	if org, dept, err = orgAndDept(c); err != nil {
		return
	}
	user, err = userParam(c)
	return
}
