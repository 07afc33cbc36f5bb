package commands

import (
	"context"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// The commands on an organization's structure: its department tree and the members in it, its
// job positions, its roles and their grants. The ids the transports give are parsed already
// (a path's id, a field's with ParseID or ParseOptionalID); Check holds the rest of the field
// rules, and the organization aggregate the rules of the model.

// CreateDepartment is the input of create_department; Name is required, ParentID nil puts the
// department at the top of the tree.
type CreateDepartment struct {
	OrgID     uuid.UUID
	ParentID  *uuid.UUID
	Name      *string
	SortOrder int
	Key       string
}

// Check finds what is missing in the input.
func (in CreateDepartment) Check() error {
	if in.Name == nil {
		return Required("name")
	}
	return nil
}

// CreateDepartment adds a department (manage_departments over its parent). Its id derives
// from the command id (domain.DepartmentIDFor), so a retry under the same idempotency key names
// the same department. Its answer is a DepartmentResult.
func (a *Application) CreateDepartment(ctx context.Context, actor uuid.UUID, in CreateDepartment) (Action, error) {
	if err := checkKey(in.Key); err != nil {
		return Action{}, err
	}
	if err := in.Check(); err != nil {
		return Action{}, err
	}
	p := domain.CreateDepartment{ParentID: in.ParentID, Name: *in.Name, SortOrder: in.SortOrder}
	return a.prepare(ctx, actor, in.OrgID, in.Key, p, func(r Reply) (any, error) {
		d, err := eventData[domain.DepartmentCreated](r)
		if err != nil {
			return nil, err
		}
		return DepartmentResult{Department: projections.DepartmentOf(d), Position: r.Position}, nil
	})
}

// RenameDepartment is the input of rename_department; Name is required.
type RenameDepartment struct {
	OrgID, DepartmentID uuid.UUID
	Name                *string
	Key                 string
}

// Check finds what is missing in the input.
func (in RenameDepartment) Check() error {
	if in.Name == nil {
		return Required("name")
	}
	return nil
}

// RenameDepartment renames a department. Its answer is a DepartmentResult, the department read
// back from the directory (orgs_readback.go).
func (a *Application) RenameDepartment(ctx context.Context, actor uuid.UUID, in RenameDepartment) (Action, error) {
	if err := checkKey(in.Key); err != nil {
		return Action{}, err
	}
	if err := in.Check(); err != nil {
		return Action{}, err
	}
	p := domain.RenameDepartment{DepartmentID: in.DepartmentID, Name: *in.Name}
	return a.prepare(ctx, actor, in.OrgID, in.Key, p, func(r Reply) (any, error) {
		d, err := eventData[domain.DepartmentRenamed](r)
		if err != nil {
			return nil, err
		}
		return a.departmentAfter(ctx, r, in.OrgID, in.DepartmentID, func(dept *projections.Department) { dept.Name = d.Name })
	})
}

// MoveDepartment is the input of move_department: ParentID nil moves it to the top.
type MoveDepartment struct {
	OrgID, DepartmentID uuid.UUID
	ParentID            *uuid.UUID
	SortOrder           int
	Key                 string
}

// MoveDepartment puts a department, with its subtree, under a new parent (never inside its
// own subtree). Its answer is a DepartmentResult, read back as a rename's.
func (a *Application) MoveDepartment(ctx context.Context, actor uuid.UUID, in MoveDepartment) (Action, error) {
	p := domain.MoveDepartment{DepartmentID: in.DepartmentID, ParentID: in.ParentID, SortOrder: in.SortOrder}
	return a.prepare(ctx, actor, in.OrgID, in.Key, p, func(r Reply) (any, error) {
		d, err := eventData[domain.DepartmentMoved](r)
		if err != nil {
			return nil, err
		}
		return a.departmentAfter(ctx, r, in.OrgID, in.DepartmentID, func(dept *projections.Department) {
			dept.ParentID, dept.SortOrder = d.ParentID, d.SortOrder
		})
	})
}

// DeleteDepartment deletes a department without sub-departments. Its answer is a
// PositionResult.
func (a *Application) DeleteDepartment(ctx context.Context, actor, orgID, deptID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, orgID, key, domain.DeleteDepartment{DepartmentID: deptID}, positionOnly)
}

// SetDepartmentHead names a department's head (UserID nil: none). Its answer is a
// PositionResult.
func (a *Application) SetDepartmentHead(ctx context.Context, actor, orgID, deptID uuid.UUID, userID *uuid.UUID, key string) (Action, error) {
	p := domain.SetDepartmentHead{DepartmentID: deptID, UserID: userID}
	if userID == nil {
		return a.prepare(ctx, actor, orgID, key, p, positionOnly)
	}
	return a.naming(ctx, actor, orgID, *userID, key, p.CommandType(), func(string) domain.CommandData { return p }, positionOnly)
}

// AddDepartmentMember is the input of add_department_member.
type AddDepartmentMember struct {
	OrgID, DepartmentID, UserID uuid.UUID
	Primary                     bool
	Key                         string
}

// AddDepartmentMember puts a member into a department (manage_members over it). Its answer is
// a PositionResult.
func (a *Application) AddDepartmentMember(ctx context.Context, actor uuid.UUID, in AddDepartmentMember) (Action, error) {
	p := domain.AddDepartmentMember{DepartmentID: in.DepartmentID, UserID: in.UserID, Primary: in.Primary}
	return a.naming(ctx, actor, in.OrgID, in.UserID, in.Key, p.CommandType(), func(string) domain.CommandData { return p }, positionOnly)
}

// RemoveDepartmentMember takes a member out of a department. Its answer is a PositionResult.
func (a *Application) RemoveDepartmentMember(ctx context.Context, actor, orgID, deptID, userID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, orgID, key, domain.RemoveDepartmentMember{DepartmentID: deptID, UserID: userID}, positionOnly)
}

// SetPrimaryDepartment makes one of a member's departments their primary one (the member, or
// manage_members). Its answer is a PositionResult.
func (a *Application) SetPrimaryDepartment(ctx context.Context, actor, orgID, deptID, userID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, orgID, key, domain.SetPrimaryDepartment{DepartmentID: deptID, UserID: userID}, positionOnly)
}

// CreateDepartmentRoom is the input of create_department_room; Name is required.
type CreateDepartmentRoom struct {
	OrgID, DepartmentID uuid.UUID
	Name                *string
	Key                 string
}

// Check finds what is missing in the input.
func (in CreateDepartmentRoom) Check() error {
	if in.Name == nil {
		return Required("name")
	}
	return nil
}

// CreateDepartmentRoom opens the department's room (create_department_rooms over it); its
// membership follows the department's subtree from then on. Its answer is a
// DepartmentRoomResult.
func (a *Application) CreateDepartmentRoom(ctx context.Context, actor uuid.UUID, in CreateDepartmentRoom) (Action, error) {
	if err := checkKey(in.Key); err != nil {
		return Action{}, err
	}
	if err := in.Check(); err != nil {
		return Action{}, err
	}
	p := domain.CreateDepartmentRoom{DepartmentID: in.DepartmentID, Name: *in.Name}
	return a.prepare(ctx, actor, in.OrgID, in.Key, p, func(r Reply) (any, error) {
		e, d, err := eventOf[domain.DepartmentRoomCreated](r)
		if err != nil {
			return nil, err
		}
		return DepartmentRoomResult{DepartmentRoom: projections.DepartmentRoomOf(d, e.OccurredAt), Position: r.Position}, nil
	})
}

// DefinePosition is the input of define_position; Name is required.
type DefinePosition struct {
	OrgID uuid.UUID
	Name  *string
	Rank  int
	Key   string
}

// Check finds what is missing in the input.
func (in DefinePosition) Check() error {
	if in.Name == nil {
		return Required("name")
	}
	return nil
}

// DefinePosition adds a job title (manage_positions). Its id derives from the command id
// (domain.PositionIDFor). Its answer is a JobPositionResult.
func (a *Application) DefinePosition(ctx context.Context, actor uuid.UUID, in DefinePosition) (Action, error) {
	if err := checkKey(in.Key); err != nil {
		return Action{}, err
	}
	if err := in.Check(); err != nil {
		return Action{}, err
	}
	p := domain.DefinePosition{Name: *in.Name, Rank: in.Rank}
	return a.prepare(ctx, actor, in.OrgID, in.Key, p, func(r Reply) (any, error) {
		d, err := eventData[domain.PositionDefined](r)
		if err != nil {
			return nil, err
		}
		return JobPositionResult{JobPosition: projections.JobPositionOf(d), Position: r.Position}, nil
	})
}

// UpdatePosition is the input of update_position: an absent field is left as it is.
type UpdatePosition struct {
	OrgID, PositionID uuid.UUID
	Name              *string
	Rank              *int
	Key               string
}

// UpdatePosition changes a job title. Its answer is a JobPositionResult, read back from the
// directory (orgs_readback.go).
func (a *Application) UpdatePosition(ctx context.Context, actor uuid.UUID, in UpdatePosition) (Action, error) {
	p := domain.UpdatePosition{PositionID: in.PositionID, Name: in.Name, Rank: in.Rank}
	return a.prepare(ctx, actor, in.OrgID, in.Key, p, func(r Reply) (any, error) {
		return a.jobPositionAfter(ctx, r, in.OrgID, in.PositionID)
	})
}

// DeletePosition deletes a job title. Its answer is a PositionResult.
func (a *Application) DeletePosition(ctx context.Context, actor, orgID, positionID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, orgID, key, domain.DeletePosition{PositionID: positionID}, positionOnly)
}

// AssignPosition is the input of assign_position.
type AssignPosition struct {
	OrgID, DepartmentID, UserID, PositionID uuid.UUID
	Key                                     string
}

// AssignPosition gives a member a position within one of their departments. Its answer is a
// PositionResult.
func (a *Application) AssignPosition(ctx context.Context, actor uuid.UUID, in AssignPosition) (Action, error) {
	p := domain.AssignPosition{UserID: in.UserID, DepartmentID: in.DepartmentID, PositionID: in.PositionID}
	return a.naming(ctx, actor, in.OrgID, in.UserID, in.Key, p.CommandType(), func(string) domain.CommandData { return p }, positionOnly)
}

// UnassignPosition takes a member's position in a department away. Its answer is a
// PositionResult.
func (a *Application) UnassignPosition(ctx context.Context, actor, orgID, deptID, userID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, orgID, key, domain.UnassignPosition{UserID: userID, DepartmentID: deptID}, positionOnly)
}

// CreateOrgRole is the input of create_org_role; Name is required, Permissions absent is none.
type CreateOrgRole struct {
	OrgID       uuid.UUID
	Name        *string
	Permissions []string
	Key         string
}

// Check finds what is missing in the input.
func (in CreateOrgRole) Check() error {
	if in.Name == nil {
		return Required("name")
	}
	return nil
}

// CreateOrgRole defines a custom role with permissions the actor holds over the whole
// organization (manage_roles). Its id derives from the command id (domain.CustomOrgRoleIDFor).
// Its answer is an OrgRoleResult.
func (a *Application) CreateOrgRole(ctx context.Context, actor uuid.UUID, in CreateOrgRole) (Action, error) {
	if err := checkKey(in.Key); err != nil {
		return Action{}, err
	}
	if err := in.Check(); err != nil {
		return Action{}, err
	}
	perms := in.Permissions
	if perms == nil {
		perms = []string{}
	}
	p := domain.CreateOrgRole{Name: *in.Name, Permissions: perms}
	return a.prepare(ctx, actor, in.OrgID, in.Key, p, func(r Reply) (any, error) {
		d, err := eventData[domain.OrgRoleCreated](r)
		if err != nil {
			return nil, err
		}
		return OrgRoleResult{Role: projections.OrgRoleOf(d), Position: r.Position}, nil
	})
}

// UpdateOrgRole is the input of update_org_role: an absent field is left as it is.
type UpdateOrgRole struct {
	OrgID, RoleID uuid.UUID
	Name          *string
	Permissions   *[]string
	Key           string
}

// UpdateOrgRole changes a custom role. Its answer is an OrgRoleResult, read back from the
// directory (orgs_readback.go).
func (a *Application) UpdateOrgRole(ctx context.Context, actor uuid.UUID, in UpdateOrgRole) (Action, error) {
	p := domain.UpdateOrgRole{RoleID: in.RoleID, Name: in.Name, Permissions: in.Permissions}
	return a.prepare(ctx, actor, in.OrgID, in.Key, p, func(r Reply) (any, error) {
		return a.roleAfter(ctx, r, in.OrgID, in.RoleID)
	})
}

// DeleteOrgRole deletes a custom role and every grant of it. Its answer is a PositionResult.
func (a *Application) DeleteOrgRole(ctx context.Context, actor, orgID, roleID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, orgID, key, domain.DeleteOrgRole{RoleID: roleID}, positionOnly)
}

// OrgGrant is the input of grant_org_role and revoke_org_role: DepartmentID nil is a grant
// over the whole organization, else over that department's subtree.
type OrgGrant struct {
	OrgID, UserID, RoleID uuid.UUID
	DepartmentID          *uuid.UUID
	Key                   string
}

// GrantOrgRole grants a member a role (manage_roles over the scope, and every permission of
// the role held there). Its answer is a PositionResult.
func (a *Application) GrantOrgRole(ctx context.Context, actor uuid.UUID, in OrgGrant) (Action, error) {
	p := domain.GrantOrgRole{UserID: in.UserID, RoleID: in.RoleID, DepartmentID: in.DepartmentID}
	return a.naming(ctx, actor, in.OrgID, in.UserID, in.Key, p.CommandType(), func(string) domain.CommandData { return p }, positionOnly)
}

// RevokeOrgRole ends one grant (the same rules; the last owner's stays). Its answer is a
// PositionResult.
func (a *Application) RevokeOrgRole(ctx context.Context, actor uuid.UUID, in OrgGrant) (Action, error) {
	p := domain.RevokeOrgRole{UserID: in.UserID, RoleID: in.RoleID, DepartmentID: in.DepartmentID}
	return a.prepare(ctx, actor, in.OrgID, in.Key, p, positionOnly)
}
