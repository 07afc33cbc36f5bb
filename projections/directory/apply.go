package directory

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// ApplyBatch applies recs to the directory and advances the "directory" checkpoints past them,
// in one transaction: either all of a batch's effects and its checkpoint are stored, or none.
// Records below the stored checkpoint of their partition (applied by an earlier batch) are
// skipped, so a redelivered batch changes nothing. Records of one partition must come in offset
// order, as the log delivers them: the statements of an event see the effects of the events
// before it, which the derived effects (counts, the primary department, paths) are computed
// from. All statements go to Postgres in one pipelined round trip.
func (s *Store) ApplyBatch(ctx context.Context, recs []Record) error {
	applied, err := s.applyBatch(ctx, "", Projection, recs)
	if applied != nil {
		s.AdvanceAll(applied)
	}
	return err
}

// ApplyBatchIn is ApplyBatch into the directory tables of another Postgres schema (a new
// generation being rebuilt beside the live one), under the generation's own checkpoint name
// (see checkpoint.Apply).
func (s *Store) ApplyBatchIn(ctx context.Context, schema, projection string, recs []Record) error {
	if schema == "" {
		return fmt.Errorf("directory: apply batch: no schema given")
	}
	_, err := s.applyBatch(ctx, schema, projection, recs)
	return err
}

func (s *Store) applyBatch(ctx context.Context, schema, projection string, recs []Record) (map[partition]int64, error) {
	applied, err := checkpoint.Apply(ctx, s.pool, schema, projection, recs, func(st *checkpoint.Statements, r Record) {
		st.Describe(r, queueRecord(&st.Batch, r))
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("directory: apply batch: %w", err)
	}
	return applied, nil
}

// Checkpoints returns the next offsets the directory stored: topic → partition → offset of the
// first record not yet applied. It is the projector runner's resume point.
func (s *Store) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return checkpoint.Load(ctx, s.pool, Projection)
}

// noScope is the scope column of a grant over the whole organization.
var noScope = uuid.Nil

func scopeOf(dept *uuid.UUID) uuid.UUID {
	if dept == nil {
		return noScope
	}
	return *dept
}

// queueRecord queues the statements that apply r's event, with a description of each: the
// event's effects, then its row of the audit log. Events of other aggregates are skipped
// (their records still advance the checkpoint).
func queueRecord(b *pgx.Batch, r Record) []string {
	e := r.Event
	if e.AggregateType != domain.AggregateOrganization || e.Data == nil {
		return nil
	}
	descs := queueEvent(b, e)
	data, err := json.Marshal(e.Data)
	if err != nil {
		// Event data is plain fields: it marshals. Failing the batch keeps a bug loud.
		b.Queue(`SELECT 1/0`)
		return append(descs, "audit: marshal data: "+err.Error())
	}
	pos := domain.Position{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	b.Queue(`INSERT INTO org_audit (org_id, version, event_id, event_type, actor_id, occurred_at, data, position)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org_id, version) DO NOTHING`,
		e.AggregateID, e.Version, e.ID, e.Type, e.ActorID, e.OccurredAt, data, pos.String())
	return append(descs, "audit")
}

// SQL shared by several events.
const (
	// sqlAddMember adds a member ($1 org, $2 user, $3 username, $4 via, $5 added by, $6 when)
	// and counts them only if the row is new.
	sqlAddMember = `WITH ins AS (
			INSERT INTO org_members (org_id, user_id, username, username_lower, via, added_by, joined_at)
			VALUES ($1, $2, $3, lower($3), $4, $5, $6) ON CONFLICT (org_id, user_id) DO NOTHING
			RETURNING org_id)
		UPDATE organizations o SET member_count = o.member_count + 1 FROM ins WHERE o.id = ins.org_id`

	// sqlGrant grants a role ($1 org, $2 user, $3 role, $4 scope, $5 by, $6 when).
	sqlGrant = `INSERT INTO org_role_grants (org_id, user_id, role_id, scope, granted_by, granted_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`

	// sqlRecount counts the distinct people of departments a (a WHERE clause follows) and of
	// every department below them.
	sqlRecount = `UPDATE org_departments a SET subtree_count = (
			SELECT count(DISTINCT m.user_id) FROM org_departments d
			JOIN org_department_members m ON m.department_id = d.id
			WHERE d.path @> ARRAY[a.id])`

	// sqlOtherMembershipBelow is true when user $3 of org $1 is a member of a department of a's
	// subtree other than $2: whether a's head count changes when they join or leave $2.
	sqlOtherMembershipBelow = `EXISTS (SELECT 1 FROM org_department_members m
			JOIN org_departments d ON d.id = m.department_id
			WHERE m.org_id = $1 AND m.user_id = $3 AND m.department_id <> $2 AND d.path @> ARRAY[a.id])`
)

// queueEvent queues the statements that apply e's data and returns a description of each.
func queueEvent(b *pgx.Batch, e domain.Event) []string {
	switch d := e.Data.(type) {
	case domain.OrganizationCreated:
		tz := d.TimeZone
		if tz == "" {
			tz = "UTC"
		}
		b.Queue(`INSERT INTO organizations (id, name, slug, description, time_zone, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (id) DO NOTHING`,
			d.OrgID, d.Name, d.Slug, d.Description, tz, d.CreatedAt)
		// The built-in roles: the owner and the admin hold every permission, the member none.
		names := domain.BuiltinOrgRoles
		ids := make([]uuid.UUID, len(names))
		for i, n := range names {
			ids[i] = domain.OrgRoleIDFor(d.OrgID, n)
		}
		b.Queue(`INSERT INTO org_roles (id, org_id, name, permissions, builtin)
			SELECT id, $1, name, CASE WHEN name = $4 THEN '{}'::text[] ELSE $5::text[] END, true
			FROM unnest($2::uuid[], $3::text[]) AS r(id, name)
			ON CONFLICT (id) DO NOTHING`, d.OrgID, ids, names, domain.RoleMember, domain.Permissions)
		// The creator joins as the owner, whether or not the log also holds their
		// OrgMemberJoined and OrgRoleGranted (both would then change nothing).
		b.Queue(sqlAddMember, d.OrgID, d.OwnerID, d.OwnerUsername, domain.JoinedAsCreator, d.OwnerID, d.CreatedAt)
		b.Queue(sqlGrant, d.OrgID, d.OwnerID, domain.OrgRoleIDFor(d.OrgID, domain.RoleOwner), noScope, d.OwnerID, d.CreatedAt)
		return []string{"add organization", "add built-in roles", "add owner", "grant owner role"}

	case domain.OrganizationUpdated:
		tz := d.TimeZone
		if tz != nil && *tz == "" {
			utc := "UTC"
			tz = &utc
		}
		b.Queue(`UPDATE organizations SET name = COALESCE($2, name), description = COALESCE($3, description),
			time_zone = COALESCE($4, time_zone), updated_at = $5 WHERE id = $1`,
			d.OrgID, d.Name, d.Description, tz, e.OccurredAt)
		return []string{"update organization"}

	case domain.OrganizationArchived:
		b.Queue(`UPDATE organizations SET archived = true, archived_at = $2, updated_at = $2 WHERE id = $1`, d.OrgID, d.ArchivedAt)
		return []string{"archive organization"}

	case domain.OrganizationUnarchived:
		b.Queue(`UPDATE organizations SET archived = false, archived_at = NULL, updated_at = $2 WHERE id = $1`, d.OrgID, d.UnarchivedAt)
		return []string{"unarchive organization"}

	case domain.OrgMemberInvited:
		b.Queue(`INSERT INTO org_invitations (org_id, user_id, username, invited_by, invited_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, user_id) DO NOTHING`,
			d.OrgID, d.UserID, d.Username, d.InvitedBy, d.InvitedAt)
		return []string{"add invitation"}

	case domain.OrgInvitationDeclined:
		b.Queue(`DELETE FROM org_invitations WHERE org_id = $1 AND user_id = $2`, d.OrgID, d.UserID)
		return []string{"drop declined invitation"}

	case domain.OrgMemberJoined:
		b.Queue(sqlAddMember, d.OrgID, d.UserID, d.Username, d.Via, d.AddedBy, d.JoinedAt)
		b.Queue(`DELETE FROM org_invitations WHERE org_id = $1 AND user_id = $2`, d.OrgID, d.UserID)
		return []string{"add member", "consume invitation"}

	case domain.OrgMemberRemoved:
		return queueRemoveMember(b, d)

	case domain.DepartmentCreated:
		b.Queue(`INSERT INTO org_departments (id, org_id, parent_id, name, sort_order, path, created_at)
			SELECT $2, $1, $3, $4, $5, COALESCE((SELECT path FROM org_departments WHERE id = $3), '{}') || $2::uuid, $6
			ON CONFLICT (id) DO NOTHING`, d.OrgID, d.DepartmentID, d.ParentID, d.Name, d.SortOrder, d.CreatedAt)
		return []string{"add department"}

	case domain.DepartmentRenamed:
		b.Queue(`UPDATE org_departments SET name = $2 WHERE id = $1`, d.DepartmentID, d.Name)
		return []string{"rename department"}

	case domain.DepartmentMoved:
		return queueMove(b, d)

	case domain.DepartmentDeleted:
		return queueDeleteDepartment(b, d, e)

	case domain.DepartmentHeadSet:
		b.Queue(`UPDATE org_departments SET head_id = $2 WHERE id = $1`, d.DepartmentID, d.UserID)
		return []string{"set department head"}

	case domain.DepartmentMemberAdded:
		return queueAddDepartmentMember(b, d, e)

	case domain.DepartmentMemberRemoved:
		return queueRemoveDepartmentMember(b, d)

	case domain.PrimaryDepartmentSet:
		b.Queue(`UPDATE org_department_members SET is_primary = (department_id = $2)
			WHERE org_id = $1 AND user_id = $3
			  AND EXISTS (SELECT 1 FROM org_department_members WHERE department_id = $2 AND user_id = $3)`,
			d.OrgID, d.DepartmentID, d.UserID)
		return []string{"set primary department"}

	case domain.PositionDefined:
		b.Queue(`INSERT INTO org_positions (id, org_id, name, rank) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
			d.PositionID, d.OrgID, d.Name, d.Rank)
		return []string{"add position"}

	case domain.PositionUpdated:
		b.Queue(`UPDATE org_positions SET name = COALESCE($2, name), rank = COALESCE($3, rank) WHERE id = $1`,
			d.PositionID, d.Name, d.Rank)
		return []string{"update position"}

	case domain.PositionDeleted:
		b.Queue(`DELETE FROM org_position_assignments WHERE position_id = $1`, d.PositionID)
		b.Queue(`DELETE FROM org_positions WHERE id = $1`, d.PositionID)
		return []string{"end the position's assignments", "drop position"}

	case domain.PositionAssigned:
		b.Queue(`INSERT INTO org_position_assignments (org_id, department_id, user_id, position_id, assigned_by)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (department_id, user_id) DO UPDATE SET position_id = EXCLUDED.position_id, assigned_by = EXCLUDED.assigned_by`,
			d.OrgID, d.DepartmentID, d.UserID, d.PositionID, d.AssignedBy)
		return []string{"assign position"}

	case domain.PositionUnassigned:
		b.Queue(`DELETE FROM org_position_assignments WHERE department_id = $1 AND user_id = $2`, d.DepartmentID, d.UserID)
		return []string{"unassign position"}

	case domain.OrgRoleCreated:
		b.Queue(`INSERT INTO org_roles (id, org_id, name, permissions) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
			d.RoleID, d.OrgID, d.Name, catalogueOrder(d.Permissions))
		return []string{"add role"}

	case domain.OrgRoleUpdated:
		var perms []string
		if d.Permissions != nil {
			perms = catalogueOrder(*d.Permissions)
		}
		b.Queue(`UPDATE org_roles SET name = COALESCE($2, name), permissions = CASE WHEN $3 THEN $4::text[] ELSE permissions END
			WHERE id = $1 AND NOT builtin`, d.RoleID, d.Name, d.Permissions != nil, perms)
		return []string{"update role"}

	case domain.OrgRoleDeleted:
		b.Queue(`DELETE FROM org_role_grants WHERE role_id = $1`, d.RoleID)
		b.Queue(`DELETE FROM org_roles WHERE id = $1 AND NOT builtin`, d.RoleID)
		return []string{"end the role's grants", "drop role"}

	case domain.OrgRoleGranted:
		b.Queue(sqlGrant, d.OrgID, d.UserID, d.RoleID, scopeOf(d.DepartmentID), d.GrantedBy, e.OccurredAt)
		return []string{"grant role"}

	case domain.OrgRoleRevoked:
		b.Queue(`DELETE FROM org_role_grants WHERE org_id = $1 AND user_id = $2 AND role_id = $3 AND scope = $4`,
			d.OrgID, d.UserID, d.RoleID, scopeOf(d.DepartmentID))
		return []string{"revoke role"}

	case domain.OrgBroadcastSent:
		b.Queue(`INSERT INTO org_broadcasts (id, org_id, title, body, sent_by, sent_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
			d.BroadcastID, d.OrgID, d.Title, d.Body, d.SentBy, d.SentAt)
		return []string{"add broadcast"}

	case domain.DepartmentRoomCreated:
		b.Queue(`INSERT INTO org_department_rooms (department_id, org_id, room_id, name, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (department_id) DO NOTHING`,
			d.DepartmentID, d.OrgID, d.RoomID, d.Name, d.CreatedBy, e.OccurredAt)
		return []string{"link department room"}
	}
	return nil
}

// catalogueOrder is perms in the catalogue's order, each once, so that a role's permissions
// read the same however the command listed them.
func catalogueOrder(perms []string) []string {
	out := make([]string, 0, len(perms))
	for _, p := range domain.Permissions {
		if slices.Contains(perms, p) {
			out = append(out, p)
		}
	}
	return out
}

// queueRemoveMember ends a membership and with it the member's department memberships (the
// counts of every department they were in or below), positions, grants, headships and their
// count in the organization.
func queueRemoveMember(b *pgx.Batch, d domain.OrgMemberRemoved) []string {
	// They leave every department at once: each department on the paths of theirs loses one
	// head, and each of theirs one direct member.
	b.Queue(`WITH del AS (
			DELETE FROM org_department_members WHERE org_id = $1 AND user_id = $2 RETURNING department_id),
		anc AS (
			SELECT a AS id, bool_or(a = d.id) AS direct
			FROM del JOIN org_departments d ON d.id = del.department_id, unnest(d.path) AS a
			GROUP BY a)
		UPDATE org_departments o SET subtree_count = o.subtree_count - 1,
			direct_count = o.direct_count - CASE WHEN anc.direct THEN 1 ELSE 0 END
		FROM anc WHERE o.id = anc.id`, d.OrgID, d.UserID)
	b.Queue(`DELETE FROM org_position_assignments WHERE org_id = $1 AND user_id = $2`, d.OrgID, d.UserID)
	b.Queue(`DELETE FROM org_role_grants WHERE org_id = $1 AND user_id = $2`, d.OrgID, d.UserID)
	b.Queue(`UPDATE org_departments SET head_id = NULL WHERE org_id = $1 AND head_id = $2`, d.OrgID, d.UserID)
	b.Queue(`WITH del AS (DELETE FROM org_members WHERE org_id = $1 AND user_id = $2 RETURNING org_id)
		UPDATE organizations o SET member_count = o.member_count - 1 FROM del WHERE o.id = del.org_id`, d.OrgID, d.UserID)
	return []string{"leave every department", "end positions", "end grants", "end headships", "remove member"}
}

// queueAddDepartmentMember puts a member into a department: primary if the event says so or if
// it is their first (the aggregate's rule), the other departments then not; one more direct
// member, and one more head in each department on its path that they were not below already.
func queueAddDepartmentMember(b *pgx.Batch, d domain.DepartmentMemberAdded, e domain.Event) []string {
	b.Queue(`WITH ins AS (
			INSERT INTO org_department_members (org_id, department_id, user_id, is_primary, added_version, added_at)
			VALUES ($1, $2, $3, $4 OR NOT EXISTS (
				SELECT 1 FROM org_department_members WHERE org_id = $1 AND user_id = $3), $5, $6)
			ON CONFLICT (department_id, user_id) DO NOTHING
			RETURNING department_id, is_primary),
		others AS (
			UPDATE org_department_members SET is_primary = false
			WHERE org_id = $1 AND user_id = $3 AND department_id <> $2 AND is_primary
			  AND EXISTS (SELECT 1 FROM ins WHERE ins.is_primary))
		UPDATE org_departments a SET direct_count = a.direct_count + CASE WHEN a.id = $2 THEN 1 ELSE 0 END,
			subtree_count = a.subtree_count + CASE WHEN `+sqlOtherMembershipBelow+` THEN 0 ELSE 1 END
		FROM ins JOIN org_departments x ON x.id = ins.department_id
		WHERE a.id = ANY(x.path)`, d.OrgID, d.DepartmentID, d.UserID, d.Primary, e.Version, d.AddedAt)
	return []string{"add department member"}
}

// queueRemoveDepartmentMember takes a member out of a department, with the position they held
// there (and its headship: a head is a member of their department), and makes NewPrimaryID
// their primary department when the event names one.
func queueRemoveDepartmentMember(b *pgx.Batch, d domain.DepartmentMemberRemoved) []string {
	b.Queue(`WITH del AS (
			DELETE FROM org_department_members WHERE department_id = $2 AND user_id = $3 RETURNING department_id)
		UPDATE org_departments a SET direct_count = a.direct_count - CASE WHEN a.id = $2 THEN 1 ELSE 0 END,
			subtree_count = a.subtree_count - CASE WHEN `+sqlOtherMembershipBelow+` THEN 0 ELSE 1 END
		FROM del JOIN org_departments x ON x.id = del.department_id
		WHERE a.id = ANY(x.path)`, d.OrgID, d.DepartmentID, d.UserID)
	b.Queue(`DELETE FROM org_position_assignments WHERE department_id = $1 AND user_id = $2`, d.DepartmentID, d.UserID)
	b.Queue(`UPDATE org_departments SET head_id = NULL WHERE id = $1 AND head_id = $2`, d.DepartmentID, d.UserID)
	b.Queue(`UPDATE org_department_members SET is_primary = (department_id = $3)
		WHERE org_id = $1 AND user_id = $2 AND $3::uuid IS NOT NULL
		  AND EXISTS (SELECT 1 FROM org_department_members WHERE department_id = $3 AND user_id = $2)`,
		d.OrgID, d.UserID, d.NewPrimaryID)
	return []string{"remove department member", "end position there", "end headship there", "set new primary department"}
}

// queueMove puts a department and its subtree under a new parent: every path in the subtree
// gets the new parent's path in front of its part from the department down, and the head
// counts of the departments that the subtree left or entered (the old and the new parent's
// paths, but for what they share) are counted again.
func queueMove(b *pgx.Batch, d domain.DepartmentMoved) []string {
	b.Queue(`UPDATE org_departments SET parent_id = $2, sort_order = $3 WHERE id = $1`, d.DepartmentID, d.ParentID, d.SortOrder)
	b.Queue(`UPDATE org_departments s
		SET path = COALESCE((SELECT p.path FROM org_departments p WHERE p.id = $2), '{}') || s.path[array_position(s.path, $1::uuid):]
		WHERE s.path @> ARRAY[$1::uuid]`, d.DepartmentID, d.ParentID)
	b.Queue(`WITH f AS (SELECT unnest(COALESCE((SELECT path FROM org_departments WHERE id = $1), '{}')) AS id),
			t AS (SELECT unnest(COALESCE((SELECT path FROM org_departments WHERE id = $2), '{}')) AS id),
			changed AS ((TABLE f EXCEPT TABLE t) UNION (TABLE t EXCEPT TABLE f))
		`+sqlRecount+` WHERE a.id IN (TABLE changed)`, d.FromParentID, d.ParentID)
	return []string{"move department", "re-root its subtree", "count the heads of the old and new ancestors"}
}

// queueDeleteDepartment deletes a department without sub-departments. Its members become
// members of its parent (those already there keep their row there, made primary if the deleted
// one was; the others keep their primary flag and are added by this event, its version theirs,
// as the aggregate adds them); at the
// top of the tree they lose it, and those for whom it was primary get their earliest remaining
// department (lowest added_version) as primary. Their positions in it end, and so do the
// grants scoped to it and its room's link. Head counts above it do not change: its members
// stay within every department above it.
func queueDeleteDepartment(b *pgx.Batch, d domain.DepartmentDeleted, e domain.Event) []string {
	descs := []string{}
	if d.ParentID != nil {
		b.Queue(`INSERT INTO org_department_members (org_id, department_id, user_id, is_primary, added_version, added_at)
			SELECT org_id, $2, user_id, is_primary, $3, $4
			FROM org_department_members WHERE department_id = $1
			ON CONFLICT (department_id, user_id) DO UPDATE
			SET is_primary = org_department_members.is_primary OR EXCLUDED.is_primary`, d.DepartmentID, *d.ParentID, e.Version, e.OccurredAt)
		b.Queue(`UPDATE org_departments SET direct_count = (
				SELECT count(*) FROM org_department_members WHERE department_id = $1)
			WHERE id = $1`, *d.ParentID)
		descs = append(descs, "members fall back to the parent", "count the parent's members")
	} else {
		b.Queue(`UPDATE org_department_members m SET is_primary = true
			FROM (SELECT DISTINCT ON (r.user_id) r.department_id, r.user_id
				FROM org_department_members x
				JOIN org_department_members r ON r.org_id = x.org_id AND r.user_id = x.user_id AND r.department_id <> x.department_id
				WHERE x.department_id = $1 AND x.is_primary
				ORDER BY r.user_id, r.added_version, r.department_id) n
			WHERE m.department_id = n.department_id AND m.user_id = n.user_id`, d.DepartmentID)
		descs = append(descs, "earliest remaining department becomes primary")
	}
	b.Queue(`DELETE FROM org_department_members WHERE department_id = $1`, d.DepartmentID)
	b.Queue(`DELETE FROM org_position_assignments WHERE department_id = $1`, d.DepartmentID)
	b.Queue(`DELETE FROM org_role_grants WHERE scope = $1`, d.DepartmentID)
	b.Queue(`DELETE FROM org_department_rooms WHERE department_id = $1`, d.DepartmentID)
	b.Queue(`DELETE FROM org_departments WHERE id = $1`, d.DepartmentID)
	return append(descs, "drop its memberships", "end positions there", "end grants scoped to it", "unlink its room", "drop department")
}
