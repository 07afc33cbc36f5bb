package queries

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/directory"
)

// OrgBroadcasts is the input of an organization's broadcasts, newest first.
type OrgBroadcasts struct {
	OrgRead
	// Before keeps the broadcasts sent before it; zero: the newest.
	Before time.Time
	// Limit is the page size, 0 for DefaultOrgAuditLimit.
	Limit int
}

// OrgBroadcasts are an organization's broadcasts, newest first: what its members were told.
func (a *Application) OrgBroadcasts(ctx context.Context, viewer uuid.UUID, in OrgBroadcasts) ([]directory.Broadcast, error) {
	if in.Limit < 0 || in.Limit > MaxOrgAuditLimit {
		return nil, errValidation("limit must be from 1 to %d", MaxOrgAuditLimit)
	}
	return orgList(ctx, a, viewer, in.OrgRead, func(ctx context.Context, org uuid.UUID) ([]directory.Broadcast, error) {
		return a.dir.Broadcasts(ctx, org, in.Before, in.Limit)
	})
}

// OrgAudit is the input of a page of an organization's audit log, newest first.
type OrgAudit struct {
	OrgRead
	// ActorID keeps the events that user caused.
	ActorID *uuid.UUID
	// Types keeps the events of these types (the contract's names: "OrgMemberJoined", …);
	// none keeps all. At most MaxOrgAuditTypes, each an organization event's.
	Types []string
	// Limit is the page size, 0 for DefaultOrgAuditLimit.
	Limit int
	// Cursor is where the previous page ended, as it was handed out; "" starts at the newest.
	Cursor string
}

// Check refuses an unknown event type, too many of them, a page size out of bounds and a
// cursor that is not one.
func (in OrgAudit) Check() error {
	q, err := in.query()
	if err != nil {
		return err
	}
	return badQuery(q.Check())
}

func (in OrgAudit) query() (directory.AuditQuery, error) {
	q := directory.AuditQuery{ActorID: in.ActorID, Types: in.Types, Limit: in.Limit}
	if in.Cursor != "" {
		cur, err := directory.ParseAuditCursor(in.Cursor)
		if err != nil {
			return q, errValidation("cursor is malformed: pass back a next_cursor as it was given")
		}
		q.Before = &cur
	}
	return q, nil
}

// AuditPage is a page of an organization's events, newest first, and the cursor of the next
// (older) page, null on the last.
type AuditPage struct {
	Entries    []directory.AuditEntry `json:"entries"`
	NextCursor *string                `json:"next_cursor"`
}

// OrgAudit reads an organization's audit log: every event of the organization, with who
// caused it and its data as the log holds it. Members only (org_not_found to others), and of
// them only those holding read_audit_log over the whole organization (forbidden to the rest):
// the log tells of every department, so a grant over one department's subtree does not open
// it. The directory has the grants, so this query decides it, from the grants as the directory
// holds them at the time of the read.
func (a *Application) OrgAudit(ctx context.Context, viewer uuid.UUID, in OrgAudit) (AuditPage, error) {
	q, err := in.query()
	if err != nil {
		return AuditPage{}, err
	}
	if err := badQuery(q.Check()); err != nil {
		return AuditPage{}, err
	}
	if err := a.memberOf(ctx, viewer, in.OrgRead); err != nil {
		return AuditPage{}, err
	}
	allowed, err := a.holdsOverOrganization(ctx, in.OrgID, viewer, domain.PermReadAuditLog)
	if err != nil {
		return AuditPage{}, err
	}
	if !allowed {
		return AuditPage{}, &Error{Code: domain.CodeForbidden, Message: "reading the audit log needs read_audit_log over the whole organization"}
	}
	entries, next, err := a.dir.Audit(ctx, in.OrgID, q)
	if err != nil {
		return AuditPage{}, badQuery(err)
	}
	out := AuditPage{Entries: entries}
	if out.Entries == nil {
		out.Entries = []directory.AuditEntry{}
	}
	if next != nil {
		s := next.String()
		out.NextCursor = &s
	}
	return out, nil
}

// holdsOverOrganization tells whether user holds perm over the whole organization: through a
// grant without a department of a role with it (the built-in owner and admin roles hold every
// permission, and the directory stores them so).
func (a *Application) holdsOverOrganization(ctx context.Context, org, user uuid.UUID, perm string) (bool, error) {
	grants, err := a.dir.Grants(ctx, org, directory.GrantQuery{UserID: &user})
	if err != nil {
		return false, err
	}
	roles, err := a.dir.Roles(ctx, org)
	if err != nil {
		return false, err
	}
	for _, g := range grants {
		if g.DepartmentID != nil {
			continue
		}
		i := slices.IndexFunc(roles, func(r directory.Role) bool { return r.ID == g.RoleID })
		if i >= 0 && slices.Contains(roles[i].Permissions, perm) {
			return true, nil
		}
	}
	return false, nil
}
