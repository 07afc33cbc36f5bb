package domain

import (
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Roles and grants. Custom roles are created, changed and deleted with manage_roles over the
// whole organization, by someone who holds every permission the role grants (or granted,
// for a change: nobody changes what a role means in a permission they lack). A grant over a
// scope (the organization, or a department and its subtree) needs manage_roles over it and
// every permission of the role there; so does revoking one. The owner role is granted and
// revoked by owners only, over the whole organization only, and the last owner keeps it.

// builtinPermissions are the permissions of a built-in role.
func builtinPermissions(role string) []string {
	if role == RoleOwner || role == RoleAdmin {
		return slices.Clone(Permissions)
	}
	return []string{}
}

// orgPermissions is a set of permissions as stored: each one of the catalogue, none twice, in
// the catalogue's order.
func orgPermissions(perms []string) ([]string, error) {
	seen := map[string]bool{}
	for _, p := range perms {
		if !slices.Contains(Permissions, p) {
			return nil, reject(CodeValidationFailed, "%q is not a permission (they are %s)", p, strings.Join(Permissions, ", "))
		}
		if seen[p] {
			return nil, reject(CodeValidationFailed, "permission %s is given twice", p)
		}
		seen[p] = true
	}
	out := make([]string, 0, len(seen))
	for _, p := range Permissions {
		if seen[p] {
			out = append(out, p)
		}
	}
	return out, nil
}

func (o *Organization) role(id uuid.UUID) (*orgRole, error) {
	if r := o.roles[id]; r != nil {
		return r, nil
	}
	return nil, reject(CodeRoleNotFound, "role %s is not a role of this organization", id)
}

// customRole is a custom role: a built-in one is forbidden to change.
func (o *Organization) customRole(id uuid.UUID) (*orgRole, error) {
	r, err := o.role(id)
	if err != nil {
		return nil, err
	}
	if r.builtin {
		return nil, reject(CodeForbidden, "the built-in role %s cannot change", r.name)
	}
	return r, nil
}

// roleNameTaken rejects a role name another role (than self) has, built-in ones included,
// without regard to case.
func (o *Organization) roleNameTaken(self uuid.UUID, name string) error {
	for id, r := range o.roles {
		if id != self && strings.EqualFold(r.name, name) {
			return reject(CodeNameTaken, "a role named %q exists already", r.name)
		}
	}
	return nil
}

func (o *Organization) createRole(cmd Command, p CreateOrgRole, now time.Time) ([]Event, error) {
	if err := o.need(cmd.ActorID, PermManageRoles, uuid.Nil); err != nil {
		return nil, err
	}
	name, err := orgLine("name", p.Name, MaxRoleNameRunes)
	if err != nil {
		return nil, err
	}
	perms, err := orgPermissions(p.Permissions)
	if err != nil {
		return nil, err
	}
	if err := o.needAll(cmd.ActorID, perms, uuid.Nil); err != nil {
		return nil, err
	}
	if err := o.roleNameTaken(uuid.Nil, name); err != nil {
		return nil, err
	}
	id := CustomOrgRoleIDFor(cmd.ID)
	if o.roles[id] != nil {
		return nil, reject(CodeValidationFailed, "role %s exists already", id)
	}
	return o.emit(cmd, now, OrgRoleCreated{OrgID: o.id, RoleID: id, Name: name, Permissions: perms, CreatedBy: cmd.ActorID}), nil
}

func (o *Organization) updateRole(cmd Command, p UpdateOrgRole, now time.Time) ([]Event, error) {
	r, err := o.customRole(p.RoleID)
	if err != nil {
		return nil, err
	}
	if err := o.need(cmd.ActorID, PermManageRoles, uuid.Nil); err != nil {
		return nil, err
	}
	if p.Name == nil && p.Permissions == nil {
		return nil, reject(CodeValidationFailed, "nothing to update: give a name or permissions")
	}
	ev := OrgRoleUpdated{OrgID: o.id, RoleID: p.RoleID, UpdatedBy: cmd.ActorID}
	if p.Name != nil {
		name, err := orgLine("name", *p.Name, MaxRoleNameRunes)
		if err != nil {
			return nil, err
		}
		if err := o.roleNameTaken(p.RoleID, name); err != nil {
			return nil, err
		}
		if name != r.name {
			ev.Name = &name
		}
	}
	if p.Permissions != nil {
		perms, err := orgPermissions(*p.Permissions)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(perms, r.perms) {
			if err := o.needAll(cmd.ActorID, append(slices.Clone(perms), r.perms...), uuid.Nil); err != nil {
				return nil, err
			}
			ev.Permissions = &perms
		}
	}
	if ev.Name == nil && ev.Permissions == nil {
		return nil, reject(CodeValidationFailed, "nothing changes: the role is so already")
	}
	return o.emit(cmd, now, ev), nil
}

func (o *Organization) deleteRole(cmd Command, p DeleteOrgRole, now time.Time) ([]Event, error) {
	r, err := o.customRole(p.RoleID)
	if err != nil {
		return nil, err
	}
	if err := o.need(cmd.ActorID, PermManageRoles, uuid.Nil); err != nil {
		return nil, err
	}
	if err := o.needAll(cmd.ActorID, r.perms, uuid.Nil); err != nil {
		return nil, err
	}
	return o.emit(cmd, now, OrgRoleDeleted{OrgID: o.id, RoleID: p.RoleID, DeletedBy: cmd.ActorID}), nil
}

// mayTakeAway rejects an actor who could not revoke grant g (removing a member ends theirs).
func (o *Organization) mayTakeAway(actor uuid.UUID, g orgGrant) error {
	r := o.roles[g.role]
	if r == nil {
		return nil
	}
	if g.role == OrgRoleIDFor(o.id, RoleOwner) && !o.IsOwner(actor) {
		return reject(CodeForbidden, "only an owner can take the owner role away")
	}
	return o.needAll(actor, r.perms, g.dept)
}

// grantScope checks what granting and revoking have in common: the role and the department
// exist, the actor holds manage_roles over the scope and may hand out (or take away) the
// role there, and the target is a member.
func (o *Organization) grantScope(actor, user, roleID uuid.UUID, dept *uuid.UUID) (orgGrant, error) {
	if _, err := o.role(roleID); err != nil {
		return orgGrant{}, err
	}
	scope, _, err := o.optionalDept(dept)
	if err != nil {
		return orgGrant{}, err
	}
	if err := o.need(actor, PermManageRoles, scope); err != nil {
		return orgGrant{}, err
	}
	g := orgGrant{roleID, scope}
	if err := o.mayTakeAway(actor, g); err != nil {
		return orgGrant{}, err
	}
	if roleID == OrgRoleIDFor(o.id, RoleMember) {
		return orgGrant{}, reject(CodeValidationFailed, "every member holds the member role: it is neither granted nor revoked")
	}
	if roleID == OrgRoleIDFor(o.id, RoleOwner) && scope != uuid.Nil {
		return orgGrant{}, reject(CodeValidationFailed, "the owner role is granted over the whole organization only")
	}
	if _, err := o.member(user); err != nil {
		return orgGrant{}, err
	}
	return g, nil
}

func (o *Organization) grantRole(cmd Command, p GrantOrgRole, now time.Time) ([]Event, error) {
	g, err := o.grantScope(cmd.ActorID, p.UserID, p.RoleID, p.DepartmentID)
	if err != nil {
		return nil, err
	}
	if o.members[p.UserID].grants[g] {
		return nil, reject(CodeValidationFailed, "the member holds that role there already")
	}
	return o.emit(cmd, now, OrgRoleGranted{OrgID: o.id, UserID: p.UserID, RoleID: p.RoleID,
		DepartmentID: optionalID(g.dept), GrantedBy: cmd.ActorID}), nil
}

func (o *Organization) revokeRole(cmd Command, p RevokeOrgRole, now time.Time) ([]Event, error) {
	g, err := o.grantScope(cmd.ActorID, p.UserID, p.RoleID, p.DepartmentID)
	if err != nil {
		return nil, err
	}
	if !o.members[p.UserID].grants[g] {
		return nil, reject(CodeValidationFailed, "the member does not hold that role there")
	}
	if p.RoleID == OrgRoleIDFor(o.id, RoleOwner) && o.owners == 1 {
		return nil, reject(CodeLastOwner, "the last owner stays owner: make another member owner first")
	}
	return o.emit(cmd, now, OrgRoleRevoked{OrgID: o.id, UserID: p.UserID, RoleID: p.RoleID,
		DepartmentID: optionalID(g.dept), RevokedBy: cmd.ActorID}), nil
}
