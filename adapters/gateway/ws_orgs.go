package gateway

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

// The organization command frames: each is named as its command type (create_organization,
// grant_org_role, …) and has the fields of the HTTP call's path and body, the organization
// as org_id (every frame but create_organization), a department as department_id and so on
// (docs/protocol.md). They call the use cases the HTTP handlers call, so their acks carry the
// HTTP answers. A missing or malformed field is invalid_frame, as in every frame.

// orgFrame holds the fields of every organization frame; which of them a frame reads depends
// on its type.
type orgFrame struct {
	OrgID        *string   `json:"org_id"`
	Name         *string   `json:"name"`
	Slug         *string   `json:"slug"`
	Description  *string   `json:"description"`
	TimeZone     *string   `json:"time_zone"`
	UserID       *string   `json:"user_id"`
	DepartmentID *string   `json:"department_id"`
	ParentID     *string   `json:"parent_id"`
	SortOrder    int       `json:"sort_order"`
	Primary      bool      `json:"primary"`
	PositionID   *string   `json:"position_id"`
	Rank         *int      `json:"rank"`
	RoleID       *string   `json:"role_id"`
	Permissions  *[]string `json:"permissions"`
	Title        *string   `json:"title"`
	Body         *string   `json:"body"`
	// authorize_proxy's and revoke_org_proxy's (http_orgs_proxies.go)
	PrincipalID *string `json:"principal_id"`
	GrantID     *string `json:"grant_id"`
	grantProxyRequest
	commandKeyField
}

// frameIDs reads a frame's id fields, keeping the first problem: a frame is refused for the
// first field that is missing or malformed.
type frameIDs struct{ err error }

// id reads a required id field.
func (r *frameIDs) id(field string, s *string) uuid.UUID {
	if r.err != nil {
		return uuid.Nil
	}
	v, err := commands.ParseID(field, s)
	r.err = err
	return v
}

// optional reads an optional id field (absent, null or "": none).
func (r *frameIDs) optional(field string, s *string) *uuid.UUID {
	if r.err != nil {
		return nil
	}
	v, err := commands.ParseOptionalID(field, s)
	r.err = err
	return v
}

type prepareFunc = func(context.Context) (commands.Action, error)

// orgFrameCall is what an organization frame's fields mean: the use case it calls, built from
// the actor, the organization (uuid.Nil for create_organization) and the fields. The ids it
// reads through r; a problem there answers the frame instead.
type orgFrameCall func(a *commands.Application, actor, org uuid.UUID, f orgFrame, r *frameIDs) prepareFunc

// The use cases of the frames below, as method expressions: (actor, organization[, ids], key).
type (
	verbCase     = func(*commands.Application, context.Context, uuid.UUID, uuid.UUID, string) (commands.Action, error)
	targetCase   = func(*commands.Application, context.Context, uuid.UUID, uuid.UUID, uuid.UUID, string) (commands.Action, error)
	memberInCase = func(*commands.Application, context.Context, uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID, string) (commands.Action, error)
)

// orgVerbFrame is a frame of a command with no fields but the organization.
func orgVerbFrame(use verbCase) orgFrameCall {
	return func(a *commands.Application, actor, org uuid.UUID, f orgFrame, _ *frameIDs) prepareFunc {
		return func(ctx context.Context) (commands.Action, error) { return use(a, ctx, actor, org, f.ClientCommandID) }
	}
}

// orgTargetFrame is a frame of a command on the organization and one id field.
func orgTargetFrame(field string, pick func(orgFrame) *string, use targetCase) orgFrameCall {
	return func(a *commands.Application, actor, org uuid.UUID, f orgFrame, r *frameIDs) prepareFunc {
		target := r.id(field, pick(f))
		return func(ctx context.Context) (commands.Action, error) {
			return use(a, ctx, actor, org, target, f.ClientCommandID)
		}
	}
}

// orgMemberInFrame is a frame of a command on a member within a department.
func orgMemberInFrame(use memberInCase) orgFrameCall {
	return func(a *commands.Application, actor, org uuid.UUID, f orgFrame, r *frameIDs) prepareFunc {
		dept, user := r.id("department_id", f.DepartmentID), r.id("user_id", f.UserID)
		return func(ctx context.Context) (commands.Action, error) {
			return use(a, ctx, actor, org, dept, user, f.ClientCommandID)
		}
	}
}

func userField(f orgFrame) *string       { return f.UserID }
func departmentField(f orgFrame) *string { return f.DepartmentID }
func positionField(f orgFrame) *string   { return f.PositionID }
func roleField(f orgFrame) *string       { return f.RoleID }

// deref is *s, "" for nil: an optional text field.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// orgFrames are the organization frames by type.
var orgFrames = map[string]orgFrameCall{
	domain.CmdCreateOrganization: func(a *commands.Application, actor, _ uuid.UUID, f orgFrame, _ *frameIDs) prepareFunc {
		in := commands.CreateOrganization{Name: f.Name, Slug: f.Slug, Description: deref(f.Description), TimeZone: deref(f.TimeZone), Key: f.ClientCommandID}
		return func(ctx context.Context) (commands.Action, error) { return a.CreateOrganization(ctx, actor, in) }
	},
	domain.CmdUpdateOrganization: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, _ *frameIDs) prepareFunc {
		in := commands.UpdateOrganization{OrgID: org, Name: f.Name, Description: f.Description, TimeZone: f.TimeZone, Key: f.ClientCommandID}
		return func(ctx context.Context) (commands.Action, error) { return a.UpdateOrganization(ctx, actor, in) }
	},
	domain.CmdArchiveOrganization:   orgVerbFrame((*commands.Application).ArchiveOrganization),
	domain.CmdUnarchiveOrganization: orgVerbFrame((*commands.Application).UnarchiveOrganization),
	domain.CmdAcceptOrgInvitation:   orgVerbFrame((*commands.Application).AcceptOrgInvitation),
	domain.CmdDeclineOrgInvitation:  orgVerbFrame((*commands.Application).DeclineOrgInvitation),
	domain.CmdLeaveOrganization:     orgVerbFrame((*commands.Application).LeaveOrganization),
	domain.CmdAddOrgMember:          orgTargetFrame("user_id", userField, (*commands.Application).AddOrgMember),
	domain.CmdInviteOrgMember:       orgTargetFrame("user_id", userField, (*commands.Application).InviteOrgMember),
	domain.CmdRemoveOrgMember:       orgTargetFrame("user_id", userField, (*commands.Application).RemoveOrgMember),
	domain.CmdBroadcastToOrganization: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, _ *frameIDs) prepareFunc {
		in := commands.BroadcastToOrganization{OrgID: org, Title: f.Title, Body: f.Body, Key: f.ClientCommandID}
		return func(ctx context.Context) (commands.Action, error) { return a.BroadcastToOrganization(ctx, actor, in) }
	},
	domain.CmdCreateDepartment: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, r *frameIDs) prepareFunc {
		in := commands.CreateDepartment{OrgID: org, ParentID: r.optional("parent_id", f.ParentID), Name: f.Name, SortOrder: f.SortOrder, Key: f.ClientCommandID}
		return func(ctx context.Context) (commands.Action, error) { return a.CreateDepartment(ctx, actor, in) }
	},
	domain.CmdRenameDepartment: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, r *frameIDs) prepareFunc {
		in := commands.RenameDepartment{OrgID: org, DepartmentID: r.id("department_id", f.DepartmentID), Name: f.Name, Key: f.ClientCommandID}
		return func(ctx context.Context) (commands.Action, error) { return a.RenameDepartment(ctx, actor, in) }
	},
	domain.CmdMoveDepartment: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, r *frameIDs) prepareFunc {
		in := commands.MoveDepartment{OrgID: org, DepartmentID: r.id("department_id", f.DepartmentID),
			ParentID: r.optional("parent_id", f.ParentID), SortOrder: f.SortOrder, Key: f.ClientCommandID}
		return func(ctx context.Context) (commands.Action, error) { return a.MoveDepartment(ctx, actor, in) }
	},
	domain.CmdDeleteDepartment: orgTargetFrame("department_id", departmentField, (*commands.Application).DeleteDepartment),
	domain.CmdSetDepartmentHead: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, r *frameIDs) prepareFunc {
		dept, user := r.id("department_id", f.DepartmentID), r.optional("user_id", f.UserID)
		return func(ctx context.Context) (commands.Action, error) {
			return a.SetDepartmentHead(ctx, actor, org, dept, user, f.ClientCommandID)
		}
	},
	domain.CmdAddDepartmentMember: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, r *frameIDs) prepareFunc {
		in := commands.AddDepartmentMember{OrgID: org, DepartmentID: r.id("department_id", f.DepartmentID),
			UserID: r.id("user_id", f.UserID), Primary: f.Primary, Key: f.ClientCommandID}
		return func(ctx context.Context) (commands.Action, error) { return a.AddDepartmentMember(ctx, actor, in) }
	},
	domain.CmdRemoveDepartmentMember: orgMemberInFrame((*commands.Application).RemoveDepartmentMember),
	domain.CmdSetPrimaryDepartment:   orgMemberInFrame((*commands.Application).SetPrimaryDepartment),
	domain.CmdUnassignPosition:       orgMemberInFrame((*commands.Application).UnassignPosition),
	domain.CmdCreateDepartmentRoom: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, r *frameIDs) prepareFunc {
		in := commands.CreateDepartmentRoom{OrgID: org, DepartmentID: r.id("department_id", f.DepartmentID), Name: f.Name, Key: f.ClientCommandID}
		return func(ctx context.Context) (commands.Action, error) { return a.CreateDepartmentRoom(ctx, actor, in) }
	},
	domain.CmdDefinePosition: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, _ *frameIDs) prepareFunc {
		in := commands.DefinePosition{OrgID: org, Name: f.Name, Key: f.ClientCommandID}
		if f.Rank != nil {
			in.Rank = *f.Rank
		}
		return func(ctx context.Context) (commands.Action, error) { return a.DefinePosition(ctx, actor, in) }
	},
	domain.CmdUpdatePosition: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, r *frameIDs) prepareFunc {
		in := commands.UpdatePosition{OrgID: org, PositionID: r.id("position_id", f.PositionID), Name: f.Name, Rank: f.Rank, Key: f.ClientCommandID}
		return func(ctx context.Context) (commands.Action, error) { return a.UpdatePosition(ctx, actor, in) }
	},
	domain.CmdDeletePosition: orgTargetFrame("position_id", positionField, (*commands.Application).DeletePosition),
	domain.CmdAssignPosition: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, r *frameIDs) prepareFunc {
		in := commands.AssignPosition{OrgID: org, DepartmentID: r.id("department_id", f.DepartmentID), UserID: r.id("user_id", f.UserID),
			PositionID: r.id("position_id", f.PositionID), Key: f.ClientCommandID}
		return func(ctx context.Context) (commands.Action, error) { return a.AssignPosition(ctx, actor, in) }
	},
	domain.CmdCreateOrgRole: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, _ *frameIDs) prepareFunc {
		in := commands.CreateOrgRole{OrgID: org, Name: f.Name, Key: f.ClientCommandID}
		if f.Permissions != nil {
			in.Permissions = *f.Permissions
		}
		return func(ctx context.Context) (commands.Action, error) { return a.CreateOrgRole(ctx, actor, in) }
	},
	domain.CmdUpdateOrgRole: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, r *frameIDs) prepareFunc {
		in := commands.UpdateOrgRole{OrgID: org, RoleID: r.id("role_id", f.RoleID), Name: f.Name, Permissions: f.Permissions, Key: f.ClientCommandID}
		return func(ctx context.Context) (commands.Action, error) { return a.UpdateOrgRole(ctx, actor, in) }
	},
	domain.CmdDeleteOrgRole: orgTargetFrame("role_id", roleField, (*commands.Application).DeleteOrgRole),
	domain.CmdGrantOrgRole: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, r *frameIDs) prepareFunc {
		in := grantOf(org, f, r)
		return func(ctx context.Context) (commands.Action, error) { return a.GrantOrgRole(ctx, actor, in) }
	},
	domain.CmdRevokeOrgRole: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, r *frameIDs) prepareFunc {
		in := grantOf(org, f, r)
		return func(ctx context.Context) (commands.Action, error) { return a.RevokeOrgRole(ctx, actor, in) }
	},
	domain.CmdAuthorizeProxy: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, r *frameIDs) prepareFunc {
		in := commands.AuthorizeProxy{OrgID: org, PrincipalID: f.PrincipalID, GrantProxy: f.input(f.ClientCommandID)}
		if r.err == nil {
			r.err = in.Check()
		}
		return func(ctx context.Context) (commands.Action, error) { return a.AuthorizeProxy(ctx, actor, in) }
	},
	domain.CmdRevokeOrgProxy: func(a *commands.Application, actor, org uuid.UUID, f orgFrame, r *frameIDs) prepareFunc {
		grant := r.id("grant_id", f.GrantID)
		return func(ctx context.Context) (commands.Action, error) {
			return a.RevokeOrgProxy(ctx, actor, org, grant, f.ClientCommandID)
		}
	},
}

// grantOf is the grant a grant_org_role or revoke_org_role frame names.
func grantOf(org uuid.UUID, f orgFrame, r *frameIDs) commands.OrgGrant {
	return commands.OrgGrant{OrgID: org, UserID: r.id("user_id", f.UserID), RoleID: r.id("role_id", f.RoleID),
		DepartmentID: r.optional("department_id", f.DepartmentID), Key: f.ClientCommandID}
}

// handleOrgFrame answers an organization frame and reports whether typ is one.
func (c *conn) handleOrgFrame(typ string, id json.RawMessage, data []byte) bool {
	call, ok := orgFrames[typ]
	if !ok {
		return false
	}
	var f orgFrame
	if !c.decodeFields(data, id, &f) {
		return true
	}
	r := &frameIDs{}
	org := uuid.Nil
	if typ != domain.CmdCreateOrganization {
		org = r.id("org_id", f.OrgID)
	}
	prepare := call(c.g.app, c.userID, org, f, r)
	if c.checked(id, r.err) {
		c.startCommand(id, prepare)
	}
	return true
}
