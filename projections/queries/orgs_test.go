package queries

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/directory"
)

// fakeDirectory answers the organization reads from memory: one organization with members,
// an invitee, departments, roles and grants. It checks its queries' bounds as the directory
// does (MemberQuery.Check, AuditQuery.Check).
type fakeDirectory struct {
	org         directory.Organization
	members     map[uuid.UUID]bool
	invited     map[uuid.UUID]bool
	departments map[uuid.UUID]projections.Department
	positions   []directory.Position
	roles       []directory.Role
	grants      []directory.Grant
	audit       []directory.AuditEntry
	caughtUp    bool
	// The last queries read.
	membersQ directory.MemberQuery
	auditQ   directory.AuditQuery
}

func (f *fakeDirectory) Organization(_ context.Context, id uuid.UUID) (directory.Organization, error) {
	if id != f.org.ID {
		return directory.Organization{}, directory.ErrNotFound
	}
	return f.org, nil
}

func (f *fakeDirectory) IsMember(_ context.Context, org, user uuid.UUID) (bool, error) {
	return org == f.org.ID && f.members[user], nil
}

func (f *fakeDirectory) Members(_ context.Context, _ uuid.UUID, q directory.MemberQuery) ([]directory.Member, *directory.MemberCursor, error) {
	if err := q.Check(); err != nil {
		return nil, nil, err
	}
	f.membersQ = q
	var out []directory.Member
	for id := range f.members {
		out = append(out, directory.Member{UserID: id, Username: id.String()[:8]})
	}
	return out, &directory.MemberCursor{Username: "x", UserID: uuid.New()}, nil
}

func (f *fakeDirectory) Department(_ context.Context, org, id uuid.UUID) (projections.Department, error) {
	d, ok := f.departments[id]
	if !ok || org != f.org.ID {
		return projections.Department{}, directory.ErrNotFound
	}
	return d, nil
}

func (f *fakeDirectory) OrgChart(_ context.Context, _ uuid.UUID, root *uuid.UUID) ([]*directory.Department, error) {
	var out []*directory.Department
	for _, d := range f.departments {
		if root == nil || d.ID == *root {
			out = append(out, &directory.Department{Department: d})
		}
	}
	if root != nil && len(out) == 0 {
		return nil, fmt.Errorf("department: %w", directory.ErrNotFound)
	}
	return out, nil
}

func (f *fakeDirectory) Positions(context.Context, uuid.UUID) ([]directory.Position, error) {
	return f.positions, nil
}

func (f *fakeDirectory) Roles(context.Context, uuid.UUID) ([]directory.Role, error) {
	return f.roles, nil
}

func (f *fakeDirectory) Grants(_ context.Context, _ uuid.UUID, q directory.GrantQuery) ([]directory.Grant, error) {
	var out []directory.Grant
	for _, g := range f.grants {
		if (q.UserID == nil || *q.UserID == g.UserID) && (q.RoleID == nil || *q.RoleID == g.RoleID) {
			out = append(out, g)
		}
	}
	return out, nil
}

func (f *fakeDirectory) UserOrganizations(_ context.Context, user uuid.UUID) ([]directory.Membership, error) {
	if !f.members[user] {
		return nil, nil
	}
	return []directory.Membership{{Organization: f.org, Via: "added", Departments: []directory.MemberDepartment{}, Roles: []directory.Grant{}}}, nil
}

func (f *fakeDirectory) Invitations(context.Context, uuid.UUID) ([]directory.Invitation, error) {
	return nil, nil
}

func (f *fakeDirectory) UserInvitations(_ context.Context, user uuid.UUID) ([]directory.Invitation, error) {
	if !f.invited[user] {
		return nil, nil
	}
	return []directory.Invitation{{OrgID: f.org.ID, UserID: user}}, nil
}

func (f *fakeDirectory) DepartmentRooms(context.Context, uuid.UUID) ([]directory.DepartmentRoom, error) {
	return nil, nil
}

func (f *fakeDirectory) Broadcasts(context.Context, uuid.UUID, time.Time, int) ([]directory.Broadcast, error) {
	return nil, nil
}

func (f *fakeDirectory) Audit(_ context.Context, _ uuid.UUID, q directory.AuditQuery) ([]directory.AuditEntry, *directory.AuditCursor, error) {
	if err := q.Check(); err != nil {
		return nil, nil, err
	}
	f.auditQ = q
	return f.audit, nil, nil
}

func (f *fakeDirectory) WaitFor(_ context.Context, pos domain.Position, _ time.Duration) error {
	if !f.caughtUp {
		return fmt.Errorf("wait for %s: %w", pos, directory.ErrNotCaughtUp)
	}
	return nil
}

// orgWorld is an organization with an owner, an admin over the whole organization, a
// department admin whose role holds read_audit_log over one department only, a plain member,
// an invitee and a stranger.
type orgWorld struct {
	*world
	dir                                      *fakeDirectory
	org, sales, auditRole                    uuid.UUID
	admin, deptAdmin, plain, orgInvitee, out uuid.UUID
}

func newOrgWorld() *orgWorld {
	w := &orgWorld{world: newWorld(), org: domain.OrgIDFor("acme"), sales: uuid.New(), auditRole: uuid.New()}
	for _, p := range []*uuid.UUID{&w.admin, &w.deptAdmin, &w.plain, &w.orgInvitee, &w.out} {
		*p = uuid.New()
		w.rm.users[*p] = projections.User{ID: *p, Username: p.String()[:8], Status: "offline"}
	}
	role := func(name string, perms ...string) directory.Role {
		return directory.Role{ID: domain.OrgRoleIDFor(w.org, name), Name: name, Permissions: perms, Builtin: true}
	}
	w.dir = &fakeDirectory{
		org:         directory.Organization{ID: w.org, Name: "Acme", Slug: "acme", TimeZone: "UTC", MemberCount: 4},
		members:     map[uuid.UUID]bool{w.owner: true, w.admin: true, w.deptAdmin: true, w.plain: true},
		invited:     map[uuid.UUID]bool{w.orgInvitee: true},
		departments: map[uuid.UUID]projections.Department{w.sales: {ID: w.sales, Name: "Sales"}},
		positions:   []directory.Position{{ID: uuid.New(), Name: "Engineer", Rank: 1}},
		roles: []directory.Role{role(domain.RoleOwner, domain.Permissions...), role(domain.RoleAdmin, domain.Permissions...),
			role(domain.RoleMember), {ID: w.auditRole, Name: "Auditor", Permissions: []string{domain.PermReadAuditLog}}},
		audit:    []directory.AuditEntry{{Version: 1, Type: domain.TypeOrganizationCreated, Data: json.RawMessage(`{}`)}},
		caughtUp: true,
	}
	w.dir.grants = []directory.Grant{
		{UserID: w.owner, RoleID: domain.OrgRoleIDFor(w.org, domain.RoleOwner)},
		{UserID: w.admin, RoleID: domain.OrgRoleIDFor(w.org, domain.RoleAdmin)},
		{UserID: w.deptAdmin, RoleID: w.auditRole, DepartmentID: &w.sales},
	}
	return w
}

func (w *orgWorld) app() *Application { return NewApplication(Deps{ReadModel: w.rm, Directory: w.dir}) }

// An organization exists only for its members: every read answers org_not_found to anyone
// else, an invitee included (who may read the organization itself, to accept), and to an
// organization that never was.
func TestOrganizationReadsAreForMembers(t *testing.T) {
	w := newOrgWorld()
	a := w.app()
	ctx := context.Background()
	in := OrgRead{OrgID: w.org}
	reads := map[string]func(viewer uuid.UUID, in OrgRead) error{
		"members": func(v uuid.UUID, in OrgRead) error {
			_, err := a.OrgMembers(ctx, v, OrgMembers{OrgRead: in})
			return err
		},
		"chart": func(v uuid.UUID, in OrgRead) error { _, err := a.OrgChart(ctx, v, OrgChart{OrgRead: in}); return err },
		"department": func(v uuid.UUID, in OrgRead) error {
			_, err := a.Department(ctx, v, in, w.sales)
			return err
		},
		"positions":   func(v uuid.UUID, in OrgRead) error { _, err := a.JobPositions(ctx, v, in); return err },
		"roles":       func(v uuid.UUID, in OrgRead) error { _, err := a.OrgRoles(ctx, v, in); return err },
		"grants":      func(v uuid.UUID, in OrgRead) error { _, err := a.OrgGrants(ctx, v, OrgGrants{OrgRead: in}); return err },
		"invitations": func(v uuid.UUID, in OrgRead) error { _, err := a.OrgInvitations(ctx, v, in); return err },
		"rooms":       func(v uuid.UUID, in OrgRead) error { _, err := a.DepartmentRooms(ctx, v, in); return err },
		"broadcasts": func(v uuid.UUID, in OrgRead) error {
			_, err := a.OrgBroadcasts(ctx, v, OrgBroadcasts{OrgRead: in})
			return err
		},
		"audit": func(v uuid.UUID, in OrgRead) error { _, err := a.OrgAudit(ctx, v, OrgAudit{OrgRead: in}); return err },
	}
	for name, read := range reads {
		if err := read(w.plain, in); name != "audit" && err != nil {
			t.Errorf("%s: a member was refused: %v", name, err)
		}
		for who, v := range map[string]uuid.UUID{"stranger": w.out, "invitee": w.orgInvitee} {
			if got := codeOf(read(v, in)); got != domain.CodeOrgNotFound {
				t.Errorf("%s: the %s got %q, want org_not_found", name, who, got)
			}
		}
		if got := codeOf(read(w.owner, OrgRead{OrgID: uuid.New()})); got != domain.CodeOrgNotFound {
			t.Errorf("%s of an unknown organization: %q", name, got)
		}
	}
	if o, err := a.Organization(ctx, w.orgInvitee, in); err != nil || o.Name != "Acme" {
		t.Fatalf("the invitee reads the organization to accept: %+v %v", o, err)
	}
	if _, err := a.Organization(ctx, w.out, in); codeOf(err) != domain.CodeOrgNotFound {
		t.Fatalf("a stranger reads the organization: %v", err)
	}
	mine, err := a.MyOrgInvitations(ctx, w.orgInvitee, domain.Position{})
	if err != nil || len(mine) != 1 || mine[0].Organization.Slug != "acme" {
		t.Fatalf("the invitee's own invitations: %+v %v", mine, err)
	}
}

// The audit log needs read_audit_log over the whole organization: the owner and an admin hold
// it, a plain member is forbidden, and so is a department admin whose role holds it over one
// department's subtree only (the log tells of every department).
func TestOrgAuditNeedsThePermissionOverTheOrganization(t *testing.T) {
	w := newOrgWorld()
	a := w.app()
	ctx := context.Background()
	for who, tc := range map[string]struct {
		viewer uuid.UUID
		want   string
	}{
		"owner": {w.owner, ""}, "admin": {w.admin, ""}, "member": {w.plain, domain.CodeForbidden},
		"department-scoped auditor": {w.deptAdmin, domain.CodeForbidden}, "stranger": {w.out, domain.CodeOrgNotFound},
	} {
		page, err := a.OrgAudit(ctx, tc.viewer, OrgAudit{OrgRead: OrgRead{OrgID: w.org}})
		if got := codeOf(err); got != tc.want {
			t.Errorf("%s: %q, want %q", who, got, tc.want)
		}
		if err == nil && (len(page.Entries) != 1 || page.NextCursor != nil) {
			t.Errorf("%s: page %+v", who, page)
		}
	}
	// Once granted over the whole organization, the auditor reads it.
	w.dir.grants = append(w.dir.grants, directory.Grant{UserID: w.deptAdmin, RoleID: w.auditRole})
	if _, err := a.OrgAudit(ctx, w.deptAdmin, OrgAudit{OrgRead: OrgRead{OrgID: w.org}}); err != nil {
		t.Fatalf("an auditor over the whole organization: %v", err)
	}

	actor := w.owner
	in := OrgAudit{OrgRead: OrgRead{OrgID: w.org}, ActorID: &actor, Types: []string{domain.TypeOrgMemberJoined}, Limit: 7,
		Cursor: directory.AuditCursor{Version: 9}.String()}
	if _, err := a.OrgAudit(ctx, w.owner, in); err != nil {
		t.Fatal(err)
	}
	if q := w.dir.auditQ; q.ActorID == nil || *q.ActorID != actor || !slices.Equal(q.Types, in.Types) || q.Limit != 7 || q.Before.Version != 9 {
		t.Fatalf("audit query read %+v", q)
	}
	for what, bad := range map[string]OrgAudit{
		"an unknown type":    {Types: []string{"MessageSent"}},
		"too many types":     {Types: slices.Repeat([]string{domain.TypeOrgMemberJoined}, MaxOrgAuditTypes+1)},
		"a malformed cursor": {Cursor: "nope"},
		"a member cursor":    {Cursor: directory.MemberCursor{Username: "a", UserID: uuid.New()}.String()},
		"a limit too large":  {Limit: MaxOrgAuditLimit + 1},
	} {
		bad.OrgRead = OrgRead{OrgID: w.org}
		_, err := a.OrgAudit(ctx, w.owner, bad)
		if codeOf(err) != domain.CodeValidationFailed || strings.Contains(err.Error(), "invalid query") {
			t.Errorf("%s: %v, want validation_failed with a plain message", what, err)
		}
	}
}

// The directory's filters: passed through when the organization has what they name, its
// not-found code when it does not, and bad input validation_failed.
func TestOrgMembersFiltersAndBounds(t *testing.T) {
	w := newOrgWorld()
	a := w.app()
	ctx := context.Background()
	pos, role := w.dir.positions[0].ID, w.auditRole
	page, err := a.OrgMembers(ctx, w.plain, OrgMembers{OrgRead: OrgRead{OrgID: w.org}, Text: " ann ", DepartmentID: &w.sales,
		PositionID: &pos, RoleID: &role, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if q := w.dir.membersQ; q.Q != "ann" || *q.DepartmentID != w.sales || *q.PositionID != pos || *q.RoleID != role || q.Limit != 3 {
		t.Fatalf("members query read %+v", q)
	}
	if len(page.Members) != 4 || page.NextCursor == nil {
		t.Fatalf("page %+v", page)
	}
	if _, err := a.OrgMembers(ctx, w.plain, OrgMembers{OrgRead: OrgRead{OrgID: w.org}, Cursor: *page.NextCursor}); err != nil {
		t.Fatalf("the next page: %v", err)
	}
	unknown := uuid.New()
	for what, tc := range map[string]struct {
		in   OrgMembers
		want string
	}{
		"an unknown department": {OrgMembers{DepartmentID: &unknown}, domain.CodeDepartmentNotFound},
		"an unknown position":   {OrgMembers{PositionID: &unknown}, domain.CodePositionNotFound},
		"an unknown role":       {OrgMembers{RoleID: &unknown}, domain.CodeRoleNotFound},
		"a 101-character text":  {OrgMembers{Text: strings.Repeat("n", MaxOrgMembersText+1)}, domain.CodeValidationFailed},
		"a NUL":                 {OrgMembers{Text: "a\x00b"}, domain.CodeValidationFailed},
		"a malformed cursor":    {OrgMembers{Cursor: "%%%"}, domain.CodeValidationFailed},
		"an audit cursor":       {OrgMembers{Cursor: directory.AuditCursor{Version: 3}.String()}, domain.CodeValidationFailed},
		"a limit too large":     {OrgMembers{Limit: MaxOrgMembersLimit + 1}, domain.CodeValidationFailed},
	} {
		tc.in.OrgRead = OrgRead{OrgID: w.org}
		if _, err := a.OrgMembers(ctx, w.plain, tc.in); codeOf(err) != tc.want {
			t.Errorf("%s: %v, want %s", what, err, tc.want)
		}
	}
	if _, err := a.Department(ctx, w.plain, OrgRead{OrgID: w.org}, unknown); codeOf(err) != domain.CodeDepartmentNotFound {
		t.Fatalf("an unknown department's subtree: %v", err)
	}
	if _, err := a.OrgGrants(ctx, w.plain, OrgGrants{OrgRead: OrgRead{OrgID: w.org}, RoleID: &unknown}); codeOf(err) != domain.CodeRoleNotFound {
		t.Fatalf("grants of an unknown role: %v", err)
	}
}

// ?position= waits for the directory: not reached is not_caught_up; without a directory the
// reads are unavailable and a profile is the user alone.
func TestOrgReadsWaitForTheDirectory(t *testing.T) {
	w := newOrgWorld()
	ctx := context.Background()
	pos := domain.Position{Topic: "org-events", Partition: 1, Offset: 5}
	w.dir.caughtUp = false
	a := w.app()
	if _, err := a.OrgRoles(ctx, w.plain, OrgRead{OrgID: w.org, Position: pos}); codeOf(err) != CodeNotCaughtUp {
		t.Fatalf("a position the directory has not reached: %v", err)
	}
	if _, err := a.Profile(ctx, w.plain, Profile{UserID: w.plain, Position: pos}); codeOf(err) != CodeNotCaughtUp {
		t.Fatalf("a profile at a position the directory has not reached: %v", err)
	}
	if _, err := a.OrgRoles(ctx, w.plain, OrgRead{OrgID: w.org}); err != nil {
		t.Fatalf("without a position nothing is waited for: %v", err)
	}

	bare := NewApplication(Deps{ReadModel: w.rm})
	if _, err := bare.OrgRoles(ctx, w.plain, OrgRead{OrgID: w.org}); codeOf(err) != CodeUnavailable {
		t.Fatalf("without a directory: %v", err)
	}
	p, err := bare.Profile(ctx, w.plain, Profile{UserID: w.plain})
	if err != nil || p.Organizations != nil {
		t.Fatalf("a profile without a directory: %+v %v", p, err)
	}
}

// A profile shows the organizations the viewer shares with the user (all of one's own), and
// none at all (the field absent) to a viewer who shares none.
func TestProfileShowsSharedOrganizations(t *testing.T) {
	w := newOrgWorld()
	a := w.app()
	ctx := context.Background()
	for who, tc := range map[string]struct {
		viewer, user uuid.UUID
		orgs         int
	}{
		"one's own": {w.plain, w.plain, 1}, "a fellow member": {w.owner, w.plain, 1},
		"a stranger looking": {w.out, w.plain, 0}, "a stranger's own": {w.out, w.out, 0},
	} {
		p, err := a.Profile(ctx, tc.viewer, Profile{UserID: tc.user})
		if err != nil || len(p.Organizations) != tc.orgs || p.ID != tc.user {
			t.Errorf("%s: %+v %v", who, p, err)
		}
		raw, _ := json.Marshal(p)
		plain, _ := json.Marshal(p.User)
		if tc.orgs == 0 && string(raw) != string(plain) {
			t.Errorf("%s: a profile without organizations is not the bare user:\n%s\n%s", who, raw, plain)
		}
	}
	if _, err := a.Profile(ctx, w.plain, Profile{UserID: uuid.New()}); codeOf(err) != domain.CodeUserNotFound {
		t.Fatalf("an unknown user: %v", err)
	}
}

func TestOrgIDOfSlug(t *testing.T) {
	for _, slug := range []string{"acme", "ACME", "a-b-9"} {
		if id, err := OrgIDOfSlug(slug); err != nil || id != domain.OrgIDFor(slug) {
			t.Errorf("%q: %v %v", slug, id, err)
		}
	}
	for _, bad := range []string{"", "a b", "a\x00", "ünï", strings.Repeat("a", domain.MaxSlugLength+1)} {
		if _, err := OrgIDOfSlug(bad); codeOf(err) != domain.CodeOrgNotFound {
			t.Errorf("%q: %v, want org_not_found", bad, err)
		}
	}
}
