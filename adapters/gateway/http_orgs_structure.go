package gateway

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

// The commands on an organization's departments, job positions and roles over HTTP (the
// routes are in http_orgs.go, orgRoutes).

type createDepartmentRequest struct {
	Name      *string `json:"name"`
	ParentID  *string `json:"parent_id"`
	SortOrder int     `json:"sort_order"`
}

// createDepartment: POST /orgs/{id}/departments {name, parent_id?, sort_order?}:
// manage_departments over the parent (the whole organization at the top). 201 with the
// department.
func (g *Gateway) createDepartment(c echo.Context) error {
	orgID, err := orgParam(c)
	if err != nil {
		return err
	}
	var req createDepartmentRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	parent, err := commands.ParseOptionalID("parent_id", req.ParentID)
	if err != nil {
		return err
	}
	act, err := g.app.CreateDepartment(c.Request().Context(), currentUser(c), commands.CreateDepartment{
		OrgID: orgID, ParentID: parent, Name: req.Name, SortOrder: req.SortOrder, Key: idempotencyKey(c),
	})
	return g.answer(c, http.StatusCreated, act, err)
}

type nameRequest struct {
	Name *string `json:"name"`
}

// renameDepartment: PATCH /orgs/{id}/departments/{dept_id} {name}.
func (g *Gateway) renameDepartment(c echo.Context) error {
	orgID, deptID, err := orgAndDept(c)
	if err != nil {
		return err
	}
	var req nameRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	act, err := g.app.RenameDepartment(c.Request().Context(), currentUser(c), commands.RenameDepartment{
		OrgID: orgID, DepartmentID: deptID, Name: req.Name, Key: idempotencyKey(c),
	})
	return g.answer(c, http.StatusOK, act, err)
}

type moveDepartmentRequest struct {
	ParentID  *string `json:"parent_id"`
	SortOrder int     `json:"sort_order"`
}

// moveDepartment: POST /orgs/{id}/departments/{dept_id}/move {parent_id?, sort_order?}: no
// parent_id (or null) moves it to the top.
func (g *Gateway) moveDepartment(c echo.Context) error {
	orgID, deptID, err := orgAndDept(c)
	if err != nil {
		return err
	}
	var req moveDepartmentRequest
	if err := readBody(c, &req, true); err != nil {
		return err
	}
	parent, err := commands.ParseOptionalID("parent_id", req.ParentID)
	if err != nil {
		return err
	}
	act, err := g.app.MoveDepartment(c.Request().Context(), currentUser(c), commands.MoveDepartment{
		OrgID: orgID, DepartmentID: deptID, ParentID: parent, SortOrder: req.SortOrder, Key: idempotencyKey(c),
	})
	return g.answer(c, http.StatusOK, act, err)
}

// deleteDepartment: DELETE /orgs/{id}/departments/{dept_id}: only without sub-departments.
func (g *Gateway) deleteDepartment(c echo.Context) error {
	orgID, deptID, err := orgAndDept(c)
	if err != nil {
		return err
	}
	act, err := g.app.DeleteDepartment(c.Request().Context(), currentUser(c), orgID, deptID, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}

// setDepartmentHead: PUT /orgs/{id}/departments/{dept_id}/head {user_id}: user_id null (or
// absent) leaves the department without a head.
func (g *Gateway) setDepartmentHead(c echo.Context) error {
	orgID, deptID, err := orgAndDept(c)
	if err != nil {
		return err
	}
	var req orgUserRequest
	if err := readBody(c, &req, true); err != nil {
		return err
	}
	userID, err := commands.ParseOptionalID("user_id", req.UserID)
	if err != nil {
		return err
	}
	act, err := g.app.SetDepartmentHead(c.Request().Context(), currentUser(c), orgID, deptID, userID, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}

// createDepartmentRoom: POST /orgs/{id}/departments/{dept_id}/room {name}:
// create_department_rooms over the department. 201 with the department's room.
func (g *Gateway) createDepartmentRoom(c echo.Context) error {
	orgID, deptID, err := orgAndDept(c)
	if err != nil {
		return err
	}
	var req nameRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	act, err := g.app.CreateDepartmentRoom(c.Request().Context(), currentUser(c), commands.CreateDepartmentRoom{
		OrgID: orgID, DepartmentID: deptID, Name: req.Name, Key: idempotencyKey(c),
	})
	return g.answer(c, http.StatusCreated, act, err)
}

type departmentMemberRequest struct {
	Primary bool `json:"primary"`
}

// addDepartmentMember: PUT /orgs/{id}/departments/{dept_id}/members/{user_id} {primary?}:
// manage_members over the department.
func (g *Gateway) addDepartmentMember(c echo.Context) error {
	orgID, deptID, userID, err := orgDeptUser(c)
	if err != nil {
		return err
	}
	var req departmentMemberRequest
	if err := readBody(c, &req, true); err != nil {
		return err
	}
	act, err := g.app.AddDepartmentMember(c.Request().Context(), currentUser(c), commands.AddDepartmentMember{
		OrgID: orgID, DepartmentID: deptID, UserID: userID, Primary: req.Primary, Key: idempotencyKey(c),
	})
	return g.answer(c, http.StatusOK, act, err)
}

// removeDepartmentMember: DELETE /orgs/{id}/departments/{dept_id}/members/{user_id}.
func (g *Gateway) removeDepartmentMember(c echo.Context) error {
	orgID, deptID, userID, err := orgDeptUser(c)
	if err != nil {
		return err
	}
	act, err := g.app.RemoveDepartmentMember(c.Request().Context(), currentUser(c), orgID, deptID, userID, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}

// setPrimaryDepartment: POST /orgs/{id}/departments/{dept_id}/members/{user_id}/primary: the
// member themselves, or manage_members.
func (g *Gateway) setPrimaryDepartment(c echo.Context) error {
	orgID, deptID, userID, err := orgDeptUser(c)
	if err != nil {
		return err
	}
	act, err := g.app.SetPrimaryDepartment(c.Request().Context(), currentUser(c), orgID, deptID, userID, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}

type assignPositionRequest struct {
	PositionID *string `json:"position_id"`
}

// assignPosition: PUT /orgs/{id}/departments/{dept_id}/members/{user_id}/position
// {position_id}: manage_positions over the department; it replaces the one held there.
func (g *Gateway) assignPosition(c echo.Context) error {
	orgID, deptID, userID, err := orgDeptUser(c)
	if err != nil {
		return err
	}
	var req assignPositionRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	positionID, err := commands.ParseID("position_id", req.PositionID)
	if err != nil {
		return err
	}
	act, err := g.app.AssignPosition(c.Request().Context(), currentUser(c), commands.AssignPosition{
		OrgID: orgID, DepartmentID: deptID, UserID: userID, PositionID: positionID, Key: idempotencyKey(c),
	})
	return g.answer(c, http.StatusOK, act, err)
}

// unassignPosition: DELETE /orgs/{id}/departments/{dept_id}/members/{user_id}/position.
func (g *Gateway) unassignPosition(c echo.Context) error {
	orgID, deptID, userID, err := orgDeptUser(c)
	if err != nil {
		return err
	}
	act, err := g.app.UnassignPosition(c.Request().Context(), currentUser(c), orgID, deptID, userID, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}

type positionRequest struct {
	Name *string `json:"name"`
	Rank *int    `json:"rank"`
}

// definePosition: POST /orgs/{id}/positions {name, rank?}: manage_positions. 201 with the job
// position (as "job_position": "position" is the log's).
func (g *Gateway) definePosition(c echo.Context) error {
	orgID, err := orgParam(c)
	if err != nil {
		return err
	}
	var req positionRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	in := commands.DefinePosition{OrgID: orgID, Name: req.Name, Key: idempotencyKey(c)}
	if req.Rank != nil {
		in.Rank = *req.Rank
	}
	act, err := g.app.DefinePosition(c.Request().Context(), currentUser(c), in)
	return g.answer(c, http.StatusCreated, act, err)
}

// positionParam is the job position of /orgs/{id}/positions/{position_id}.
func positionParam(c echo.Context) (uuid.UUID, uuid.UUID, error) {
	return orgAnd(c, "position_id", domain.CodePositionNotFound, "no such position")
}

// updatePosition: PATCH /orgs/{id}/positions/{position_id} {name?, rank?}.
func (g *Gateway) updatePosition(c echo.Context) error {
	orgID, positionID, err := positionParam(c)
	if err != nil {
		return err
	}
	var req positionRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	act, err := g.app.UpdatePosition(c.Request().Context(), currentUser(c), commands.UpdatePosition{
		OrgID: orgID, PositionID: positionID, Name: req.Name, Rank: req.Rank, Key: idempotencyKey(c),
	})
	return g.answer(c, http.StatusOK, act, err)
}

// deletePosition: DELETE /orgs/{id}/positions/{position_id}.
func (g *Gateway) deletePosition(c echo.Context) error {
	orgID, positionID, err := positionParam(c)
	if err != nil {
		return err
	}
	act, err := g.app.DeletePosition(c.Request().Context(), currentUser(c), orgID, positionID, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}

type roleRequest struct {
	Name        *string   `json:"name"`
	Permissions *[]string `json:"permissions"`
}

// createOrgRole: POST /orgs/{id}/roles {name, permissions}: manage_roles, and every permission
// given held over the whole organization. 201 with the role.
func (g *Gateway) createOrgRole(c echo.Context) error {
	orgID, err := orgParam(c)
	if err != nil {
		return err
	}
	var req roleRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	in := commands.CreateOrgRole{OrgID: orgID, Name: req.Name, Key: idempotencyKey(c)}
	if req.Permissions != nil {
		in.Permissions = *req.Permissions
	}
	act, err := g.app.CreateOrgRole(c.Request().Context(), currentUser(c), in)
	return g.answer(c, http.StatusCreated, act, err)
}

// roleParam is the organization and role of /orgs/{id}/…/roles/{role_id}.
func roleParam(c echo.Context) (uuid.UUID, uuid.UUID, error) {
	return orgAnd(c, "role_id", domain.CodeRoleNotFound, "no such role")
}

// updateOrgRole: PATCH /orgs/{id}/roles/{role_id} {name?, permissions?}: custom roles only.
func (g *Gateway) updateOrgRole(c echo.Context) error {
	orgID, roleID, err := roleParam(c)
	if err != nil {
		return err
	}
	var req roleRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	act, err := g.app.UpdateOrgRole(c.Request().Context(), currentUser(c), commands.UpdateOrgRole{
		OrgID: orgID, RoleID: roleID, Name: req.Name, Permissions: req.Permissions, Key: idempotencyKey(c),
	})
	return g.answer(c, http.StatusOK, act, err)
}

// deleteOrgRole: DELETE /orgs/{id}/roles/{role_id}: custom roles only; every grant of it ends.
func (g *Gateway) deleteOrgRole(c echo.Context) error {
	orgID, roleID, err := roleParam(c)
	if err != nil {
		return err
	}
	act, err := g.app.DeleteOrgRole(c.Request().Context(), currentUser(c), orgID, roleID, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}

// orgGrant reads a grant of /orgs/{id}/members/{user_id}/roles/{role_id}?department_id=: the
// scope is a query parameter, so that granting (PUT) and revoking (DELETE) name a grant the
// same way; without it the grant is over the whole organization.
func orgGrant(c echo.Context) (commands.OrgGrant, error) {
	orgID, roleID, err := roleParam(c)
	if err != nil {
		return commands.OrgGrant{}, err
	}
	userID, err := userParam(c)
	if err != nil {
		return commands.OrgGrant{}, err
	}
	dept := c.QueryParam("department_id")
	scope, err := commands.ParseOptionalID("department_id", &dept)
	if err != nil {
		return commands.OrgGrant{}, err
	}
	return commands.OrgGrant{OrgID: orgID, UserID: userID, RoleID: roleID, DepartmentID: scope, Key: idempotencyKey(c)}, nil
}

// grantOrgRole: PUT /orgs/{id}/members/{user_id}/roles/{role_id}[?department_id=]:
// manage_roles over the scope, holding every permission of the role there.
func (g *Gateway) grantOrgRole(c echo.Context) error {
	in, err := orgGrant(c)
	if err != nil {
		return err
	}
	act, err := g.app.GrantOrgRole(c.Request().Context(), currentUser(c), in)
	return g.answer(c, http.StatusOK, act, err)
}

// revokeOrgRole: DELETE /orgs/{id}/members/{user_id}/roles/{role_id}[?department_id=].
func (g *Gateway) revokeOrgRole(c echo.Context) error {
	in, err := orgGrant(c)
	if err != nil {
		return err
	}
	act, err := g.app.RevokeOrgRole(c.Request().Context(), currentUser(c), in)
	return g.answer(c, http.StatusOK, act, err)
}
