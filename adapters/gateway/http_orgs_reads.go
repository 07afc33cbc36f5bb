package gateway

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/queries"
)

// The organizations' reads over HTTP (docs/protocol.md, "Organizations"): GETs beside the
// commands' paths, each answered by a query of package queries from the organization
// directory. ?position= is waited for by the query, on the directory itself (a projection of
// its own), as the search waits on its index: these routes do not wait for the read model.
// WebSocket has no read frames (reads are HTTP's), so there are none for these either.

// orgReadRoutes mounts the organizations' reads (under api, with the middleware of a read that
// waits for its own projection).
func (g *Gateway) orgReadRoutes(api *echo.Group, mw ...echo.MiddlewareFunc) {
	api.GET("/orgs", g.myOrgs, mw...)
	api.GET("/orgs/by-slug/:slug", g.orgBySlug, mw...)
	api.GET("/orgs/:id", g.getOrg, mw...)
	api.GET("/orgs/:id/members", g.orgMembers, mw...)
	api.GET("/orgs/:id/departments", g.orgChart, mw...)
	api.GET("/orgs/:id/departments/:dept_id", g.getDepartment, mw...)
	api.GET("/orgs/:id/positions", orgList(g, "job_positions", g.queries.JobPositions), mw...)
	api.GET("/orgs/:id/roles", orgList(g, "roles", g.queries.OrgRoles), mw...)
	api.GET("/orgs/:id/grants", g.orgGrants, mw...)
	api.GET("/orgs/:id/invitations", orgList(g, "invitations", g.queries.OrgInvitations), mw...)
	api.GET("/orgs/:id/department-rooms", orgList(g, "department_rooms", g.queries.DepartmentRooms), mw...)
	api.GET("/orgs/:id/broadcasts", g.orgBroadcasts, mw...)
	api.GET("/orgs/:id/audit", g.orgAudit, mw...)
	api.GET("/orgs/:id/reports/online-time", g.orgOnlineTime, mw...) // http_orgs_reports.go
	api.GET("/orgs/:id/proxies", g.orgProxyGrants, mw...)            // http_orgs_proxies.go
	api.GET("/users/me/org-invitations", g.myOrgInvitations, mw...)
}

// positionQuery is ?position=, zero when absent.
func (g *Gateway) positionQuery(c echo.Context) (domain.Position, error) {
	if raw := c.QueryParam("position"); raw != "" {
		return g.parsePosition(raw)
	}
	return domain.Position{}, nil
}

// orgRead is the organization of the path and ?position=.
func (g *Gateway) orgRead(c echo.Context) (queries.OrgRead, error) {
	id, err := orgParam(c)
	if err != nil {
		return queries.OrgRead{}, err
	}
	pos, err := g.positionQuery(c)
	return queries.OrgRead{OrgID: id, Position: pos}, err
}

// idQuery is an optional id of the query string; a malformed one is 400 (it is the caller's
// input, not a path naming something).
func idQuery(c echo.Context, name string) (*uuid.UUID, error) {
	raw := c.QueryParam(name)
	if raw == "" {
		return nil, nil
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return nil, errValidation("%s is not an id", name)
	}
	return &id, nil
}

// myOrgs: GET /orgs?position=: the caller's organizations, with their departments, job
// positions and roles there (as their profile shows them).
func (g *Gateway) myOrgs(c echo.Context) error {
	pos, err := g.positionQuery(c)
	if err != nil {
		return err
	}
	orgs, err := g.queries.MyOrganizations(c.Request().Context(), currentUser(c), pos)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"organizations": orgs})
}

// getOrg: GET /orgs/{id}?position=: members and invitees.
func (g *Gateway) getOrg(c echo.Context) error {
	in, err := g.orgRead(c)
	if err != nil {
		return err
	}
	return g.answerOrg(c, in)
}

// orgBySlug: GET /orgs/by-slug/{slug}?position=: as GET /orgs/{id}, the organization named by
// its slug (in any case).
func (g *Gateway) orgBySlug(c echo.Context) error {
	id, err := queries.OrgIDOfSlug(c.Param("slug"))
	if err != nil {
		return err
	}
	pos, err := g.positionQuery(c)
	if err != nil {
		return err
	}
	return g.answerOrg(c, queries.OrgRead{OrgID: id, Position: pos})
}

func (g *Gateway) answerOrg(c echo.Context, in queries.OrgRead) error {
	o, err := g.queries.Organization(c.Request().Context(), currentUser(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"organization": o})
}

// orgMembers: GET /orgs/{id}/members?q=&department_id=&position_id=&role_id=&limit=&cursor=
// &position=: the members directory, a page by username.
func (g *Gateway) orgMembers(c echo.Context) error {
	read, err := g.orgRead(c)
	if err != nil {
		return err
	}
	in := queries.OrgMembers{OrgRead: read, Cursor: c.QueryParam("cursor")}
	if in.Text, err = textQuery(c, "q"); err != nil {
		return err
	}
	for name, dst := range map[string]**uuid.UUID{"department_id": &in.DepartmentID, "position_id": &in.PositionID, "role_id": &in.RoleID} {
		if *dst, err = idQuery(c, name); err != nil {
			return err
		}
	}
	limit, err := intParam(c, "limit", queries.DefaultOrgMembersLimit, 1, queries.MaxOrgMembersLimit)
	if err != nil {
		return err
	}
	in.Limit = int(limit)
	page, err := g.queries.OrgMembers(c.Request().Context(), currentUser(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// orgChart: GET /orgs/{id}/departments?position=: the department tree with head counts.
func (g *Gateway) orgChart(c echo.Context) error {
	in, err := g.orgRead(c)
	if err != nil {
		return err
	}
	tops, err := g.queries.OrgChart(c.Request().Context(), currentUser(c), queries.OrgChart{OrgRead: in})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"departments": tops})
}

// getDepartment: GET /orgs/{id}/departments/{dept_id}?position=: one department with its
// subtree and head counts.
func (g *Gateway) getDepartment(c echo.Context) error {
	in, err := g.orgRead(c)
	if err != nil {
		return err
	}
	deptID, err := deptParam(c)
	if err != nil {
		return err
	}
	d, err := g.queries.Department(c.Request().Context(), currentUser(c), in, deptID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"department": d})
}

// orgList is the handler of a GET /orgs/{id}/…?position= that answers {name: [...]}.
func orgList[T any](g *Gateway, name string, read func(context.Context, uuid.UUID, queries.OrgRead) ([]T, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		in, err := g.orgRead(c)
		if err != nil {
			return err
		}
		list, err := read(c.Request().Context(), currentUser(c), in)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{name: list})
	}
}

// orgGrants: GET /orgs/{id}/grants?user_id=&role_id=&position=: who holds which role over
// what.
func (g *Gateway) orgGrants(c echo.Context) error {
	read, err := g.orgRead(c)
	if err != nil {
		return err
	}
	in := queries.OrgGrants{OrgRead: read}
	if in.UserID, err = idQuery(c, "user_id"); err != nil {
		return err
	}
	if in.RoleID, err = idQuery(c, "role_id"); err != nil {
		return err
	}
	grants, err := g.queries.OrgGrants(c.Request().Context(), currentUser(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"grants": grants})
}

// orgBroadcasts: GET /orgs/{id}/broadcasts?before=&limit=&position=: newest first; before is
// an RFC 3339 time.
func (g *Gateway) orgBroadcasts(c echo.Context) error {
	read, err := g.orgRead(c)
	if err != nil {
		return err
	}
	in := queries.OrgBroadcasts{OrgRead: read}
	if raw := c.QueryParam("before"); raw != "" {
		if in.Before, err = time.Parse(time.RFC3339Nano, raw); err != nil {
			return errValidation("before must be an RFC 3339 time")
		}
	}
	limit, err := intParam(c, "limit", queries.DefaultOrgAuditLimit, 1, queries.MaxOrgAuditLimit)
	if err != nil {
		return err
	}
	in.Limit = int(limit)
	list, err := g.queries.OrgBroadcasts(c.Request().Context(), currentUser(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"broadcasts": list})
}

// orgAudit: GET /orgs/{id}/audit?actor_id=&type=&limit=&cursor=&position=: read_audit_log
// over the whole organization. type may be repeated or hold several types between commas.
func (g *Gateway) orgAudit(c echo.Context) error {
	read, err := g.orgRead(c)
	if err != nil {
		return err
	}
	in := queries.OrgAudit{OrgRead: read, Cursor: c.QueryParam("cursor")}
	if in.ActorID, err = idQuery(c, "actor_id"); err != nil {
		return err
	}
	for _, v := range c.QueryParams()["type"] {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				in.Types = append(in.Types, t)
			}
		}
	}
	limit, err := intParam(c, "limit", queries.DefaultOrgAuditLimit, 1, queries.MaxOrgAuditLimit)
	if err != nil {
		return err
	}
	in.Limit = int(limit)
	page, err := g.queries.OrgAudit(c.Request().Context(), currentUser(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// myOrgInvitations: GET /users/me/org-invitations?position=: the caller's open invitations to
// organizations, each with the organization (which an invitee may read).
func (g *Gateway) myOrgInvitations(c echo.Context) error {
	pos, err := g.positionQuery(c)
	if err != nil {
		return err
	}
	list, err := g.queries.MyOrgInvitations(c.Request().Context(), currentUser(c), pos)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"invitations": list})
}
