package queries

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/directory"
)

// The organizations' reads, from the organization directory. One rule of visibility: an
// organization exists only for its members (an invitee may also read the organization itself,
// to decide whether to accept); to everyone else it is org_not_found, exactly as one that never
// was, so that its existence is not revealed. Within it every member reads the directory, the
// org chart, job positions, roles and grants, invitations, department rooms and broadcasts; the
// audit log needs read_audit_log over the whole organization (orgs_audit.go).
//
// A Position waits for the directory to include it, not for the read model: the directory is a
// projection of its own, and a read must show the organization command whose position it was
// given even when the read model is ahead of the directory.

// Page sizes of the organizations' reads (the directory's).
const (
	DefaultOrgMembersLimit = directory.DefaultMemberLimit
	MaxOrgMembersLimit     = directory.MaxMemberLimit
	DefaultOrgAuditLimit   = directory.DefaultAuditLimit
	MaxOrgAuditLimit       = directory.MaxAuditLimit
	MaxOrgAuditTypes       = directory.MaxAuditTypes
	// MaxOrgMembersText bounds the directory's name search: no name is longer.
	MaxOrgMembersText = directory.MaxQueryRunes
)

// OrgRead names the organization of a read, and the position the directory must include
// before it is read (zero: none).
type OrgRead struct {
	OrgID    uuid.UUID
	Position domain.Position
}

// ErrOrgNotFound is the answer about an organization that does not exist for the viewer:
// unknown, or one they are not a member of.
func ErrOrgNotFound() *Error {
	return &Error{Code: domain.CodeOrgNotFound, Message: "no such organization"}
}

func errDepartmentNotFound() *Error {
	return &Error{Code: domain.CodeDepartmentNotFound, Message: "no such department"}
}

// directoryReady waits for the directory to include pos (if given). Without a directory
// every organization read is unavailable.
func (a *Application) directoryReady(ctx context.Context, pos domain.Position) error {
	if a.dir == nil {
		return newError(CodeUnavailable, "the organization directory is not available on this gateway")
	}
	if pos.IsZero() {
		return nil
	}
	err := a.wait(ctx, pos, a.dir.WaitFor)
	if errors.Is(err, directory.ErrNotCaughtUp) {
		return newError(CodeNotCaughtUp, "the organization directory has not reached that position yet; try again")
	}
	return err
}

// memberOf is the rule of every read inside an organization: the viewer must be a member.
func (a *Application) memberOf(ctx context.Context, viewer uuid.UUID, in OrgRead) error {
	if err := a.directoryReady(ctx, in.Position); err != nil {
		return err
	}
	member, err := a.dir.IsMember(ctx, in.OrgID, viewer)
	if err != nil {
		return err
	}
	if !member {
		return ErrOrgNotFound()
	}
	return nil
}

// badQuery turns the directory's refusal of a query's bounds into validation_failed.
func badQuery(err error) error {
	if errors.Is(err, directory.ErrBadQuery) {
		msg := strings.TrimPrefix(err.Error(), directory.ErrBadQuery.Error()+": ")
		return errValidation("%s", msg)
	}
	return err
}

// Organization is an organization the viewer is a member of or invited to.
func (a *Application) Organization(ctx context.Context, viewer uuid.UUID, in OrgRead) (directory.Organization, error) {
	if err := a.directoryReady(ctx, in.Position); err != nil {
		return directory.Organization{}, err
	}
	visible, err := a.dir.IsMember(ctx, in.OrgID, viewer)
	if err != nil {
		return directory.Organization{}, err
	}
	if !visible {
		invitations, err := a.dir.UserInvitations(ctx, viewer)
		if err != nil {
			return directory.Organization{}, err
		}
		visible = slices.ContainsFunc(invitations, func(i directory.Invitation) bool { return i.OrgID == in.OrgID })
	}
	if !visible {
		return directory.Organization{}, ErrOrgNotFound()
	}
	o, err := a.dir.Organization(ctx, in.OrgID)
	if errors.Is(err, directory.ErrNotFound) {
		return directory.Organization{}, ErrOrgNotFound()
	}
	return o, err
}

// OrgIDOfSlug is the id of the organization a slug names: the id is a function of the slug
// (domain.OrgIDFor), so no read is needed. A string that cannot be a slug names nothing
// (org_not_found, as a malformed id in a path).
func OrgIDOfSlug(slug string) (uuid.UUID, error) {
	if slug == "" || len(slug) > domain.MaxSlugLength || strings.ContainsFunc(slug, func(r rune) bool {
		return !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		return uuid.Nil, ErrOrgNotFound()
	}
	return domain.OrgIDFor(slug), nil
}

// OrgMembers is the input of the members directory: filters that combine (all must hold).
type OrgMembers struct {
	OrgRead
	// Text keeps the members whose username or display name contains it (any case); "" all.
	Text string
	// DepartmentID keeps the members of that department's subtree; PositionID those holding
	// that job position (in any department); RoleID those granted that role (over any scope;
	// the built-in member role keeps every member).
	DepartmentID, PositionID, RoleID *uuid.UUID
	// Limit is the page size, 0 for DefaultOrgMembersLimit.
	Limit int
	// Cursor is where the previous page ended, as it was handed out; "" starts at the first.
	Cursor string
}

// Check refuses a text or a page size out of bounds, and a cursor that is not one.
func (in OrgMembers) Check() error {
	q, err := in.query()
	if err != nil {
		return err
	}
	return badQuery(q.Check())
}

func (in OrgMembers) query() (directory.MemberQuery, error) {
	q := directory.MemberQuery{Q: strings.TrimSpace(in.Text), DepartmentID: in.DepartmentID, PositionID: in.PositionID,
		RoleID: in.RoleID, Limit: in.Limit}
	if in.Cursor != "" {
		cur, err := directory.ParseMemberCursor(in.Cursor)
		if err != nil {
			return q, errValidation("cursor is malformed: pass back a next_cursor as it was given")
		}
		q.After = &cur
	}
	return q, nil
}

// OrgMemberList is a page of an organization's members, by username, and the cursor of the
// next page (null on the last).
type OrgMemberList struct {
	Members    []directory.Member `json:"members"`
	NextCursor *string            `json:"next_cursor"`
}

// OrgMembers lists a page of an organization's members (the directory). A filter that names
// a department, job position or role the organization does not have is its not-found code
// rather than an empty page: it is a mistake the caller should hear of.
func (a *Application) OrgMembers(ctx context.Context, viewer uuid.UUID, in OrgMembers) (OrgMemberList, error) {
	q, err := in.query()
	if err != nil {
		return OrgMemberList{}, err
	}
	if err := badQuery(q.Check()); err != nil {
		return OrgMemberList{}, err
	}
	if err := a.memberOf(ctx, viewer, in.OrgRead); err != nil {
		return OrgMemberList{}, err
	}
	if err := a.checkFilters(ctx, in); err != nil {
		return OrgMemberList{}, err
	}
	members, next, err := a.dir.Members(ctx, in.OrgID, q)
	if err != nil {
		return OrgMemberList{}, badQuery(err)
	}
	out := OrgMemberList{Members: members}
	if out.Members == nil {
		out.Members = []directory.Member{}
	}
	if next != nil {
		s := next.String()
		out.NextCursor = &s
	}
	return out, nil
}

// checkFilters finds a filter naming what the organization does not have.
func (a *Application) checkFilters(ctx context.Context, in OrgMembers) error {
	if in.DepartmentID != nil {
		if err := a.department(ctx, in.OrgID, *in.DepartmentID); err != nil {
			return err
		}
	}
	if in.PositionID != nil {
		all, err := a.dir.Positions(ctx, in.OrgID)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(all, func(p directory.Position) bool { return p.ID == *in.PositionID }) {
			return &Error{Code: domain.CodePositionNotFound, Message: "no such job position"}
		}
	}
	if in.RoleID != nil {
		if err := a.role(ctx, in.OrgID, *in.RoleID); err != nil {
			return err
		}
	}
	return nil
}

// department checks that org has the department.
func (a *Application) department(ctx context.Context, org, id uuid.UUID) error {
	_, err := a.dir.Department(ctx, org, id)
	if errors.Is(err, directory.ErrNotFound) {
		return errDepartmentNotFound()
	}
	return err
}

// role checks that org has the role.
func (a *Application) role(ctx context.Context, org, id uuid.UUID) error {
	all, err := a.dir.Roles(ctx, org)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(all, func(r directory.Role) bool { return r.ID == id }) {
		return &Error{Code: domain.CodeRoleNotFound, Message: "no such role"}
	}
	return nil
}

// OrgChart is the input of the org chart: the whole tree, or DepartmentID's subtree.
type OrgChart struct {
	OrgRead
	DepartmentID *uuid.UUID
}

// OrgChart is the organization's department tree with head counts: its top departments, each
// with the departments below it.
func (a *Application) OrgChart(ctx context.Context, viewer uuid.UUID, in OrgChart) ([]*directory.Department, error) {
	if err := a.memberOf(ctx, viewer, in.OrgRead); err != nil {
		return nil, err
	}
	tops, err := a.dir.OrgChart(ctx, in.OrgID, in.DepartmentID)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, errDepartmentNotFound()
	}
	if err != nil {
		return nil, err
	}
	if tops == nil {
		tops = []*directory.Department{}
	}
	return tops, nil
}

// Department is one department with its subtree and head counts.
func (a *Application) Department(ctx context.Context, viewer uuid.UUID, in OrgRead, deptID uuid.UUID) (*directory.Department, error) {
	tops, err := a.OrgChart(ctx, viewer, OrgChart{OrgRead: in, DepartmentID: &deptID})
	if err != nil {
		return nil, err
	}
	return tops[0], nil
}

// JobPositions are the organization's job positions, the most senior first.
func (a *Application) JobPositions(ctx context.Context, viewer uuid.UUID, in OrgRead) ([]directory.Position, error) {
	return orgList(ctx, a, viewer, in, func(ctx context.Context, org uuid.UUID) ([]directory.Position, error) {
		return a.dir.Positions(ctx, org)
	})
}

// OrgRoles are the organization's roles: the built-in ones, then the custom ones by name.
func (a *Application) OrgRoles(ctx context.Context, viewer uuid.UUID, in OrgRead) ([]directory.Role, error) {
	return orgList(ctx, a, viewer, in, func(ctx context.Context, org uuid.UUID) ([]directory.Role, error) {
		return a.dir.Roles(ctx, org)
	})
}

// OrgGrants is the input of the grants listing; a nil filter keeps all.
type OrgGrants struct {
	OrgRead
	UserID, RoleID *uuid.UUID
}

// OrgGrants are the organization's role grants (who holds which role over what), by username.
func (a *Application) OrgGrants(ctx context.Context, viewer uuid.UUID, in OrgGrants) ([]directory.Grant, error) {
	return orgList(ctx, a, viewer, in.OrgRead, func(ctx context.Context, org uuid.UUID) ([]directory.Grant, error) {
		if in.RoleID != nil {
			if err := a.role(ctx, org, *in.RoleID); err != nil {
				return nil, err
			}
		}
		return a.dir.Grants(ctx, org, directory.GrantQuery{UserID: in.UserID, RoleID: in.RoleID})
	})
}

// OrgInvitations are the organization's open invitations, oldest first.
func (a *Application) OrgInvitations(ctx context.Context, viewer uuid.UUID, in OrgRead) ([]directory.Invitation, error) {
	return orgList(ctx, a, viewer, in, func(ctx context.Context, org uuid.UUID) ([]directory.Invitation, error) {
		return a.dir.Invitations(ctx, org)
	})
}

// DepartmentRooms are the rooms the organization's departments own, by name.
func (a *Application) DepartmentRooms(ctx context.Context, viewer uuid.UUID, in OrgRead) ([]directory.DepartmentRoom, error) {
	return orgList(ctx, a, viewer, in, func(ctx context.Context, org uuid.UUID) ([]directory.DepartmentRoom, error) {
		return a.dir.DepartmentRooms(ctx, org)
	})
}

// orgList is a members-only read of a list: never nil (an empty list is answered [], not null).
func orgList[T any](ctx context.Context, a *Application, viewer uuid.UUID, in OrgRead,
	read func(context.Context, uuid.UUID) ([]T, error)) ([]T, error) {
	if err := a.memberOf(ctx, viewer, in); err != nil {
		return nil, err
	}
	list, err := read(ctx, in.OrgID)
	if err != nil {
		return nil, badQuery(err)
	}
	if list == nil {
		list = []T{}
	}
	return list, nil
}

// MyOrgInvitation is one of the viewer's own open invitations, with the organization it is to.
type MyOrgInvitation struct {
	directory.Invitation
	Organization directory.Organization `json:"organization"`
}

// MyOrgInvitations are the viewer's open invitations across organizations, oldest first.
func (a *Application) MyOrgInvitations(ctx context.Context, viewer uuid.UUID, pos domain.Position) ([]MyOrgInvitation, error) {
	if err := a.directoryReady(ctx, pos); err != nil {
		return nil, err
	}
	invitations, err := a.dir.UserInvitations(ctx, viewer)
	if err != nil {
		return nil, err
	}
	out := make([]MyOrgInvitation, 0, len(invitations))
	for _, inv := range invitations {
		o, err := a.dir.Organization(ctx, inv.OrgID)
		if errors.Is(err, directory.ErrNotFound) {
			continue // an invitation outlives nothing in the directory; never shown half
		}
		if err != nil {
			return nil, err
		}
		out = append(out, MyOrgInvitation{Invitation: inv, Organization: o})
	}
	return out, nil
}

// Profile is the input of a user's profile: the user, and the position the read model and
// the directory must include (zero: none).
type Profile struct {
	UserID   uuid.UUID
	Position domain.Position
}

// UserProfile is a user as the viewer may see them, with the organizations they share: every
// one of the viewer's own, only those both are members of for another user. Organizations is
// absent when there are none, so that a profile without them is the User it always was.
type UserProfile struct {
	projections.User
	Organizations []directory.Membership `json:"organizations,omitempty"`
}

// Profile is User with the user's organizations, their departments, job positions and roles
// there. The read model's wait for Position is the transport's (as for every read of it); the
// directory's is made here. Without a directory the profile is the user alone.
func (a *Application) Profile(ctx context.Context, viewer uuid.UUID, in Profile) (UserProfile, error) {
	u, err := a.User(ctx, viewer, in.UserID)
	if err != nil || a.dir == nil {
		return UserProfile{User: u}, err
	}
	if err := a.directoryReady(ctx, in.Position); err != nil {
		return UserProfile{}, err
	}
	all, err := a.dir.UserOrganizations(ctx, in.UserID)
	if err != nil {
		return UserProfile{}, err
	}
	p := UserProfile{User: u}
	for _, m := range all {
		shared := viewer == in.UserID
		if !shared {
			if shared, err = a.dir.IsMember(ctx, m.Organization.ID, viewer); err != nil {
				return UserProfile{}, err
			}
		}
		if shared {
			p.Organizations = append(p.Organizations, m)
		}
	}
	return p, nil
}

// MyOrganizations are the viewer's organizations, by name, with their departments, job
// positions and roles there.
func (a *Application) MyOrganizations(ctx context.Context, viewer uuid.UUID, pos domain.Position) ([]directory.Membership, error) {
	if err := a.directoryReady(ctx, pos); err != nil {
		return nil, err
	}
	all, err := a.dir.UserOrganizations(ctx, viewer)
	if all == nil && err == nil {
		all = []directory.Membership{}
	}
	return all, err
}
