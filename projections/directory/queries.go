package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/domain"
)

// Page sizes of the directory's listings.
const (
	DefaultMemberLimit = 50
	MaxMemberLimit     = 200
	DefaultAuditLimit  = 50
	MaxAuditLimit      = 200
	// MaxQueryRunes bounds a name search: no name is longer.
	MaxQueryRunes = 100
	// MaxAuditTypes bounds how many event types one audit query filters on.
	MaxAuditTypes = 32
)

// limitOf checks a page size: 0 is def, 1..max is itself, anything else an error.
func limitOf(limit, def, maxLimit int) (int, error) {
	switch {
	case limit == 0:
		return def, nil
	case limit < 0 || limit > maxLimit:
		return 0, fmt.Errorf("%w: limit %d is not within 1..%d", ErrBadQuery, limit, maxLimit)
	}
	return limit, nil
}

func notFound(what string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

const orgColumns = `o.id, o.name, o.slug, o.description, o.time_zone, o.archived, o.archived_at, o.member_count, o.created_at, o.updated_at`

func scanOrg(row pgx.Row, o *Organization, more ...any) error {
	err := row.Scan(append([]any{&o.ID, &o.Name, &o.Slug, &o.Description, &o.TimeZone, &o.Archived, &o.ArchivedAt,
		&o.MemberCount, &o.CreatedAt, &o.UpdatedAt}, more...)...)
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	if o.ArchivedAt != nil {
		t := o.ArchivedAt.UTC()
		o.ArchivedAt = &t
	}
	return err
}

// Organization returns an organization (archived ones too), ErrNotFound if there is none. It
// does not check who may see it.
func (s *Store) Organization(ctx context.Context, id uuid.UUID) (Organization, error) {
	var o Organization
	err := scanOrg(s.pool.QueryRow(ctx, `SELECT `+orgColumns+` FROM organizations o WHERE o.id = $1`, id), &o)
	if err != nil {
		return Organization{}, notFound("organization "+id.String(), err)
	}
	return o, nil
}

// OrganizationBySlug returns the organization with slug (in any case: slugs are unique
// without regard to case, and an organization's id is a function of its slug).
func (s *Store) OrganizationBySlug(ctx context.Context, slug string) (Organization, error) {
	if slug == "" || len(slug) > domain.MaxSlugLength*4 || strings.ContainsRune(slug, 0) {
		return Organization{}, fmt.Errorf("organization %q: %w", slug, ErrNotFound)
	}
	return s.Organization(ctx, domain.OrgIDFor(slug))
}

// IsMember tells whether user is a member of org: the check of every query a member may make.
func (s *Store) IsMember(ctx context.Context, org, user uuid.UUID) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM org_members WHERE org_id = $1 AND user_id = $2)`, org, user).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("is member: %w", err)
	}
	return ok, nil
}

// MemberQuery selects a page of an organization's members, ordered by lower-case username then
// user id. Filters combine (all must hold).
type MemberQuery struct {
	// Q keeps the members whose username or display name contains it, without regard to case;
	// "" keeps all. At most MaxQueryRunes, no NUL.
	Q string
	// DepartmentID keeps the members of that department or of any department below it.
	DepartmentID *uuid.UUID
	// PositionID keeps the members holding that position (in any department).
	PositionID *uuid.UUID
	// RoleID keeps the members granted that role (over any scope); the built-in member role
	// keeps every member, which is what every member is.
	RoleID *uuid.UUID
	// Limit is the page size: 0 for DefaultMemberLimit, else 1..MaxMemberLimit.
	Limit int
	// After is where the previous page ended (its next cursor); nil starts at the first member.
	After *MemberCursor
}

// Check says what is wrong with q, if anything (ErrBadQuery).
func (q MemberQuery) Check() error {
	if _, err := limitOf(q.Limit, DefaultMemberLimit, MaxMemberLimit); err != nil {
		return err
	}
	if !utf8.ValidString(q.Q) || strings.ContainsRune(q.Q, 0) {
		return fmt.Errorf("%w: q must be text without NUL", ErrBadQuery)
	}
	if n := utf8.RuneCountInString(q.Q); n > MaxQueryRunes {
		return fmt.Errorf("%w: q has %d characters, at most %d", ErrBadQuery, n, MaxQueryRunes)
	}
	if q.After != nil && strings.ContainsRune(q.After.Username, 0) {
		return fmt.Errorf("%w: not a member cursor", ErrBadQuery)
	}
	return nil
}

// likeContaining is the LIKE pattern of the strings containing s, its wildcards escaped.
func likeContaining(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// When a name search collects its matches (through the trigram indexes, then sorted) rather
// than walking the directory's order to the page's last one: when fewer than rareMatches
// names match (collecting costs a few µs a match, walking a fraction of a µs a member, and a
// rare name would be walked to the end), or when another filter keeps fewer than narrowFilter
// members (a walk would pass over most members for the few the two filters keep together,
// while collecting starts from that filter's members). The figures are those of an
// organization of 50,000 (docs/benchmarks.md).
const (
	rareMatches  = 400
	narrowFilter = 5000
)

// collectNames tells whether a search for the names matching pattern, with q's other filters,
// should collect its matches (see rareMatches). Every count stops at its threshold, so that a
// common name or a broad filter costs no more to count than a rare one. The display names
// counted are any user's: the read model's users are not by organization.
func (s *Store) collectNames(ctx context.Context, org uuid.UUID, pattern string, q MemberQuery) (bool, error) {
	if q.RoleID != nil && *q.RoleID == domain.OrgRoleIDFor(org, domain.RoleMember) {
		q.RoleID = nil // every member holds it: no filter (and no grants to count)
	}
	var names, position, role, dept *int
	err := s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM (SELECT FROM org_members o WHERE o.org_id = $1 AND o.username_lower LIKE $2 LIMIT $3) a) +
		(SELECT count(*) FROM (SELECT FROM users x WHERE lower(x.display_name) LIKE $2 LIMIT $3) b),
		(SELECT count(*) FROM (SELECT FROM org_position_assignments pa WHERE pa.position_id = $5 LIMIT $4) c),
		(SELECT count(*) FROM (SELECT FROM org_role_grants g WHERE g.role_id = $6 LIMIT $4) d),
		(SELECT d.subtree_count FROM org_departments d WHERE d.id = $7 AND d.org_id = $1)`,
		org, pattern, s.rareMatches, s.narrowFilter, q.PositionID, q.RoleID, q.DepartmentID).Scan(&names, &position, &role, &dept)
	if err != nil {
		return false, fmt.Errorf("members: %w", err)
	}
	narrow := func(n *int, filter *uuid.UUID) bool { return filter != nil && n != nil && *n < s.narrowFilter }
	return *names < s.rareMatches || narrow(position, q.PositionID) || narrow(role, q.RoleID) || narrow(dept, q.DepartmentID), nil
}

// Members returns a page of org's members that q selects and the cursor of the next page (nil
// when this page is the last). It does not check who may see them.
func (s *Store) Members(ctx context.Context, org uuid.UUID, q MemberQuery) ([]Member, *MemberCursor, error) {
	if err := q.Check(); err != nil {
		return nil, nil, err
	}
	limit, _ := limitOf(q.Limit, DefaultMemberLimit, MaxMemberLimit)
	args := []any{org, limit + 1}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	// The page's keys come from a walk of org_members_name_idx in the directory's order from
	// the cursor, every filter applied during the walk (an index-only scan: only the index's
	// columns are read), which stops at the page's last member; the page's details are read
	// after, for its members only. A filter that keeps many members ends the walk early: a
	// common substring no longer collects and sorts thousands of matches for one page
	// (docs/benchmarks.md). A rare one, or a name with a narrow filter, would make the walk
	// read most of the organization, so its few matches are collected instead.
	var where []string
	if q.Q != "" {
		pattern := likeContaining(strings.ToLower(q.Q))
		collect, err := s.collectNames(ctx, org, pattern, q)
		if err != nil {
			return nil, nil, err
		}
		p := arg(pattern)
		if collect {
			where = append(where, `n.user_id IN (
				SELECT o.user_id FROM org_members o WHERE o.org_id = $1 AND o.username_lower LIKE `+p+`
				UNION SELECT x.id FROM users x WHERE lower(x.display_name) LIKE `+p+`)`)
		} else {
			// The usernames are tested on the index's own column. The users whose display name
			// matches are looked up once (users_display_name_trgm_idx) into a hash that the
			// walk probes; the OR keeps the planner from making it a join, which would collect
			// every match again.
			where = append(where, `(n.username_lower LIKE `+p+`
				OR n.user_id IN (SELECT x.id FROM users x WHERE lower(x.display_name) LIKE `+p+`))`)
		}
	}
	if q.DepartmentID != nil {
		where = append(where, `n.user_id IN (SELECT dm.user_id FROM org_departments d
			JOIN org_department_members dm ON dm.department_id = d.id
			WHERE d.path @> ARRAY[`+arg(*q.DepartmentID)+`::uuid])`)
	}
	if q.PositionID != nil {
		where = append(where, `n.user_id IN (SELECT pa.user_id FROM org_position_assignments pa WHERE pa.position_id = `+arg(*q.PositionID)+`)`)
	}
	if q.RoleID != nil && *q.RoleID != domain.OrgRoleIDFor(org, domain.RoleMember) {
		where = append(where, `n.user_id IN (SELECT g.user_id FROM org_role_grants g WHERE g.role_id = `+arg(*q.RoleID)+`)`)
	}
	if q.After != nil {
		// The row comparison follows the ORDER BY, which is what makes the cursor a position.
		where = append(where, `(n.username_lower, n.user_id) > (`+arg(q.After.Username)+`::text, `+arg(q.After.UserID)+`::uuid)`)
	}
	cond := ""
	for _, w := range where {
		cond += " AND " + w
	}
	rows, err := s.pool.Query(ctx, `WITH page AS (
			SELECT n.username_lower, n.user_id FROM org_members n
			WHERE n.org_id = $1`+cond+`
			ORDER BY n.username_lower, n.user_id
			LIMIT $2)
		SELECT m.user_id, m.username, m.username_lower, u.display_name, m.via, m.joined_at,
			(SELECT p.department_id FROM org_department_members p WHERE p.org_id = m.org_id AND p.user_id = m.user_id AND p.is_primary LIMIT 1)
		FROM page JOIN org_members m ON m.org_id = $1 AND m.user_id = page.user_id
		LEFT JOIN users u ON u.id = m.user_id
		ORDER BY page.username_lower, page.user_id`, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("members: %w", err)
	}
	var lower []string
	members, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Member, error) {
		var (
			m Member
			l string
		)
		err := row.Scan(&m.UserID, &m.Username, &l, &m.DisplayName, &m.Via, &m.JoinedAt, &m.PrimaryDepartmentID)
		m.JoinedAt = m.JoinedAt.UTC()
		lower = append(lower, l)
		return m, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("members: %w", err)
	}
	if len(members) <= limit {
		return members, nil, nil
	}
	members = members[:limit]
	return members, &MemberCursor{Username: lower[limit-1], UserID: members[limit-1].UserID}, nil
}

// OrgChart returns org's department tree: the top-level departments with everything below
// them, or, with root set, that department with its subtree (ErrNotFound if org has no such
// department). Siblings are ordered by sort order, then name, then id.
func (s *Store) OrgChart(ctx context.Context, org uuid.UUID, root *uuid.UUID) ([]*Department, error) {
	// The head's name is looked up per department that has one (a key lookup), rather than
	// joined: a join let the planner hash every member of a large organization.
	q := `SELECT d.id, d.parent_id, d.name, d.sort_order, d.head_id,
			COALESCE((SELECT h.username FROM org_members h WHERE h.org_id = d.org_id AND h.user_id = d.head_id), ''),
			cardinality(d.path) - 1, d.direct_count, d.subtree_count
		FROM org_departments d
		WHERE d.org_id = $1`
	args := []any{org}
	if root != nil {
		q += ` AND d.path @> ARRAY[$2::uuid]`
		args = append(args, *root)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("org chart: %w", err)
	}
	depts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Department, error) {
		var d Department
		err := row.Scan(&d.ID, &d.ParentID, &d.Name, &d.SortOrder, &d.HeadID, &d.HeadUsername, &d.Depth, &d.DirectCount, &d.HeadCount)
		return &d, err
	})
	if err != nil {
		return nil, fmt.Errorf("org chart: %w", err)
	}
	byID := make(map[uuid.UUID]*Department, len(depts))
	for _, d := range depts {
		byID[d.ID] = d
	}
	var tops []*Department
	for _, d := range depts {
		parent, ok := (*Department)(nil), false
		if d.ParentID != nil && (root == nil || d.ID != *root) {
			parent, ok = byID[*d.ParentID]
		}
		if ok {
			parent.Children = append(parent.Children, d)
		} else {
			tops = append(tops, d)
		}
	}
	if root != nil && len(tops) == 0 {
		return nil, fmt.Errorf("department %s: %w", root, ErrNotFound)
	}
	sortDepartments(tops)
	return tops, nil
}

func sortDepartments(ds []*Department) {
	slices.SortFunc(ds, func(a, b *Department) int {
		if a.SortOrder != b.SortOrder {
			return a.SortOrder - b.SortOrder
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID.String(), b.ID.String())
	})
	for _, d := range ds {
		sortDepartments(d.Children)
	}
}

// Positions returns org's positions, most senior (highest rank) first, then by name.
func (s *Store) Positions(ctx context.Context, org uuid.UUID) ([]Position, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, rank FROM org_positions WHERE org_id = $1 ORDER BY rank DESC, name, id`, org)
	if err != nil {
		return nil, fmt.Errorf("positions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Position, error) {
		var p Position
		return p, row.Scan(&p.ID, &p.Name, &p.Rank)
	})
	if err != nil {
		return nil, fmt.Errorf("positions: %w", err)
	}
	return out, nil
}

// Roles returns org's roles: the built-in ones (owner, admin, member), then the custom ones
// by name.
func (s *Store) Roles(ctx context.Context, org uuid.UUID) ([]Role, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, permissions, builtin FROM org_roles WHERE org_id = $1
		ORDER BY NOT builtin, array_position($2::text[], name), name, id`, org, domain.BuiltinOrgRoles)
	if err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Role, error) {
		var r Role
		return r, row.Scan(&r.ID, &r.Name, &r.Permissions, &r.Builtin)
	})
	if err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	return out, nil
}

// GrantQuery selects an organization's grants; a nil filter keeps all.
type GrantQuery struct {
	UserID *uuid.UUID
	RoleID *uuid.UUID
}

const grantColumns = `g.user_id, COALESCE(m.username, ''), g.role_id, r.name, NULLIF(g.scope, '00000000-0000-0000-0000-000000000000'::uuid),
	g.granted_by, g.granted_at`

func scanGrant(row pgx.Row, g *Grant, more ...any) error {
	err := row.Scan(append([]any{&g.UserID, &g.Username, &g.RoleID, &g.RoleName, &g.DepartmentID, &g.GrantedBy, &g.GrantedAt}, more...)...)
	g.GrantedAt = g.GrantedAt.UTC()
	return err
}

// Grants returns org's role grants that q selects, by username, role name and scope. The
// built-in member role is nobody's grant: every member holds it.
func (s *Store) Grants(ctx context.Context, org uuid.UUID, q GrantQuery) ([]Grant, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+grantColumns+`
		FROM org_role_grants g JOIN org_roles r ON r.id = g.role_id
		LEFT JOIN org_members m ON m.org_id = g.org_id AND m.user_id = g.user_id
		WHERE g.org_id = $1 AND ($2::uuid IS NULL OR g.user_id = $2) AND ($3::uuid IS NULL OR g.role_id = $3)
		ORDER BY m.username_lower, g.user_id, r.name, g.role_id, g.scope`, org, q.UserID, q.RoleID)
	if err != nil {
		return nil, fmt.Errorf("grants: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Grant, error) {
		var g Grant
		return g, scanGrant(row, &g)
	})
	if err != nil {
		return nil, fmt.Errorf("grants: %w", err)
	}
	return out, nil
}

// UserOrganizations returns the organizations user is a member of, by name, each with their
// departments there (primary first, with the position they hold in each) and their role
// grants: what their profile shows.
func (s *Store) UserOrganizations(ctx context.Context, user uuid.UUID) ([]Membership, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+orgColumns+`, m.via, m.joined_at
		FROM org_members m JOIN organizations o ON o.id = m.org_id
		WHERE m.user_id = $1 ORDER BY o.name, o.id`, user)
	if err != nil {
		return nil, fmt.Errorf("user organizations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Membership, error) {
		var m Membership
		err := scanOrg(row, &m.Organization, &m.Via, &m.JoinedAt)
		m.JoinedAt = m.JoinedAt.UTC()
		m.Departments, m.Roles = []MemberDepartment{}, []Grant{}
		return m, err
	})
	if err != nil || len(out) == 0 {
		return out, fmtErr("user organizations", err)
	}
	at := make(map[uuid.UUID]int, len(out))
	for i, m := range out {
		at[m.Organization.ID] = i
	}

	var b pgx.Batch
	b.Queue(`SELECT dm.org_id, dm.department_id, d.name, dm.is_primary, p.id, p.name, p.rank
		FROM org_department_members dm JOIN org_departments d ON d.id = dm.department_id
		LEFT JOIN org_position_assignments pa ON pa.department_id = dm.department_id AND pa.user_id = dm.user_id
		LEFT JOIN org_positions p ON p.id = pa.position_id
		WHERE dm.org_id IN (SELECT org_id FROM org_members WHERE user_id = $1) AND dm.user_id = $1
		ORDER BY dm.org_id, NOT dm.is_primary, dm.added_version, dm.department_id`, user)
	b.Queue(`SELECT `+grantColumns+`, g.org_id
		FROM org_role_grants g JOIN org_roles r ON r.id = g.role_id
		LEFT JOIN org_members m ON m.org_id = g.org_id AND m.user_id = g.user_id
		WHERE g.org_id IN (SELECT org_id FROM org_members WHERE user_id = $1) AND g.user_id = $1
		ORDER BY g.org_id, r.name, g.role_id, g.scope`, user)
	br := s.pool.SendBatch(ctx, &b)
	defer br.Close()
	rows, err = br.Query()
	if err != nil {
		return nil, fmt.Errorf("user organizations: departments: %w", err)
	}
	var (
		org    uuid.UUID
		md     MemberDepartment
		posID  *uuid.UUID
		pName  *string
		pRank  *int
		g      Grant
		orgErr error
	)
	_, err = pgx.ForEachRow(rows, []any{&org, &md.DepartmentID, &md.Name, &md.Primary, &posID, &pName, &pRank}, func() error {
		d := md
		if posID != nil {
			d.Position = &Position{ID: *posID, Name: *pName, Rank: *pRank}
		}
		out[at[org]].Departments = append(out[at[org]].Departments, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("user organizations: departments: %w", err)
	}
	rows, err = br.Query()
	if err != nil {
		return nil, fmt.Errorf("user organizations: roles: %w", err)
	}
	for rows.Next() {
		g = Grant{}
		if orgErr = scanGrant(rows, &g, &org); orgErr != nil {
			break
		}
		out[at[org]].Roles = append(out[at[org]].Roles, g)
	}
	rows.Close()
	if err := errors.Join(orgErr, rows.Err()); err != nil {
		return nil, fmt.Errorf("user organizations: roles: %w", err)
	}
	return out, nil
}

func fmtErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Invitations returns org's open invitations, oldest first.
func (s *Store) Invitations(ctx context.Context, org uuid.UUID) ([]Invitation, error) {
	return s.invitations(ctx, `org_id = $1`, org)
}

// UserInvitations returns the open invitations user has, oldest first.
func (s *Store) UserInvitations(ctx context.Context, user uuid.UUID) ([]Invitation, error) {
	return s.invitations(ctx, `user_id = $1`, user)
}

func (s *Store) invitations(ctx context.Context, where string, id uuid.UUID) ([]Invitation, error) {
	rows, err := s.pool.Query(ctx, `SELECT org_id, user_id, username, invited_by, invited_at FROM org_invitations
		WHERE `+where+` ORDER BY invited_at, org_id, user_id`, id)
	if err != nil {
		return nil, fmt.Errorf("invitations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Invitation, error) {
		var i Invitation
		err := row.Scan(&i.OrgID, &i.UserID, &i.Username, &i.InvitedBy, &i.InvitedAt)
		i.InvitedAt = i.InvitedAt.UTC()
		return i, err
	})
	return out, fmtErr("invitations", err)
}

// DepartmentRooms returns the rooms org's departments own.
func (s *Store) DepartmentRooms(ctx context.Context, org uuid.UUID) ([]DepartmentRoom, error) {
	rows, err := s.pool.Query(ctx, `SELECT department_id, room_id, name, created_by, created_at FROM org_department_rooms
		WHERE org_id = $1 ORDER BY name, department_id`, org)
	if err != nil {
		return nil, fmt.Errorf("department rooms: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DepartmentRoom, error) {
		var r DepartmentRoom
		err := row.Scan(&r.DepartmentID, &r.RoomID, &r.Name, &r.CreatedBy, &r.CreatedAt)
		r.CreatedAt = r.CreatedAt.UTC()
		return r, err
	})
	return out, fmtErr("department rooms", err)
}

// Broadcasts returns org's newest broadcasts sent before before (the zero time: the newest),
// at most limit (0 for DefaultAuditLimit, else 1..MaxAuditLimit).
func (s *Store) Broadcasts(ctx context.Context, org uuid.UUID, before time.Time, limit int) ([]Broadcast, error) {
	n, err := limitOf(limit, DefaultAuditLimit, MaxAuditLimit)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id, title, body, sent_by, sent_at FROM org_broadcasts
		WHERE org_id = $1 AND ($2::timestamptz IS NULL OR sent_at < $2)
		ORDER BY sent_at DESC, id DESC LIMIT $3`, org, nullTime(before), n)
	if err != nil {
		return nil, fmt.Errorf("broadcasts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Broadcast, error) {
		var b Broadcast
		err := row.Scan(&b.ID, &b.Title, &b.Body, &b.SentBy, &b.SentAt)
		b.SentAt = b.SentAt.UTC()
		return b, err
	})
	return out, fmtErr("broadcasts", err)
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// AuditQuery selects a page of an organization's audit log, newest first.
type AuditQuery struct {
	// ActorID keeps the events that actor caused.
	ActorID *uuid.UUID
	// Types keeps the events of these types (the contract's names, e.g. "OrgMemberJoined");
	// none keeps all. At most MaxAuditTypes.
	Types []string
	// Limit is the page size: 0 for DefaultAuditLimit, else 1..MaxAuditLimit.
	Limit int
	// Before is where the previous page ended (its next cursor); nil starts at the newest.
	Before *AuditCursor
}

// orgEventTypes are the event types an organization writes: an audit filter on anything else
// is a mistake the caller should hear of rather than an empty page.
var orgEventTypes = []string{
	domain.TypeOrganizationCreated, domain.TypeOrganizationUpdated, domain.TypeOrganizationArchived,
	domain.TypeOrganizationUnarchived, domain.TypeOrgMemberInvited, domain.TypeOrgInvitationDeclined,
	domain.TypeOrgMemberJoined, domain.TypeOrgMemberRemoved, domain.TypeDepartmentCreated, domain.TypeDepartmentRenamed,
	domain.TypeDepartmentMoved, domain.TypeDepartmentDeleted, domain.TypeDepartmentHeadSet, domain.TypeDepartmentMemberAdded,
	domain.TypeDepartmentMemberRemoved, domain.TypePrimaryDepartmentSet, domain.TypePositionDefined, domain.TypePositionUpdated,
	domain.TypePositionDeleted, domain.TypePositionAssigned, domain.TypePositionUnassigned, domain.TypeOrgRoleCreated,
	domain.TypeOrgRoleUpdated, domain.TypeOrgRoleDeleted, domain.TypeOrgRoleGranted, domain.TypeOrgRoleRevoked,
	domain.TypeOrgBroadcastSent, domain.TypeDepartmentRoomCreated,
}

// Check says what is wrong with q, if anything (ErrBadQuery).
func (q AuditQuery) Check() error {
	if _, err := limitOf(q.Limit, DefaultAuditLimit, MaxAuditLimit); err != nil {
		return err
	}
	if len(q.Types) > MaxAuditTypes {
		return fmt.Errorf("%w: %d types, at most %d", ErrBadQuery, len(q.Types), MaxAuditTypes)
	}
	for _, t := range q.Types {
		if !slices.Contains(orgEventTypes, t) {
			return fmt.Errorf("%w: %q is not an organization event type", ErrBadQuery, t)
		}
	}
	if q.Before != nil && q.Before.Version <= 0 {
		return fmt.Errorf("%w: not an audit cursor", ErrBadQuery)
	}
	return nil
}

// Audit returns a page of org's events that q selects, newest first, and the cursor of the
// next (older) page, nil when this page is the last. It does not check who may read them.
func (s *Store) Audit(ctx context.Context, org uuid.UUID, q AuditQuery) ([]AuditEntry, *AuditCursor, error) {
	if err := q.Check(); err != nil {
		return nil, nil, err
	}
	limit, _ := limitOf(q.Limit, DefaultAuditLimit, MaxAuditLimit)
	var before *int64
	if q.Before != nil {
		before = &q.Before.Version
	}
	var types []string
	if len(q.Types) > 0 {
		types = q.Types
	}
	rows, err := s.pool.Query(ctx, `SELECT version, event_id, event_type, actor_id, occurred_at, data, position
		FROM org_audit
		WHERE org_id = $1 AND ($2::uuid IS NULL OR actor_id = $2) AND ($3::text[] IS NULL OR event_type = ANY($3))
		  AND ($4::bigint IS NULL OR version < $4)
		ORDER BY version DESC LIMIT $5`, org, q.ActorID, types, before, limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditEntry, error) {
		var a AuditEntry
		err := row.Scan(&a.Version, &a.EventID, &a.Type, &a.ActorID, &a.OccurredAt, &a.Data, &a.Position)
		a.OccurredAt = a.OccurredAt.UTC()
		return a, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("audit: %w", err)
	}
	if len(out) <= limit {
		return out, nil, nil
	}
	out = out[:limit]
	return out, &AuditCursor{Version: out[limit-1].Version}, nil
}
