package commands

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// The changes of an organization's settings, a department, a job position or a role answer the
// thing as it stands after the change, as update_room answers the room: their events carry
// only what changed, so the thing is read back from the organization directory once it
// includes the command (bounded by PositionWait), and the event's change is laid over what is
// read, so that a directory still behind shows the change all the same. Without a directory
// (Deps.Directory nil) they answer only their position.

// readBack answers an accepted change: read gives the thing with the change laid over it; an
// error reading it is not_caught_up (accepted, not readable: deleted meanwhile, or the
// directory unreachable), which a retry under the same idempotency key answers again without
// changing anything.
func (a *Application) readBack(ctx context.Context, r Reply, what string, read func() (any, error)) (any, error) {
	if a.dir == nil {
		return positionOnly(r)
	}
	a.waitIn(ctx, a.dir, "directory", r.Position)
	v, err := read()
	if err != nil {
		a.log.Warn("organization change: cannot read it back", "what", what, "err", err)
		return nil, &Error{Code: CodeNotCaughtUp, Message: fmt.Sprintf("the %s was changed but cannot be read back; read it with ?position=%s", what, r.Position)}
	}
	return v, nil
}

func (a *Application) organizationAfter(ctx context.Context, r Reply, orgID uuid.UUID) (any, error) {
	d, err := eventData[domain.OrganizationUpdated](r)
	if err != nil {
		return nil, err
	}
	return a.readBack(ctx, r, "organization", func() (any, error) {
		o, err := a.dir.Organization(ctx, orgID)
		if err != nil {
			return nil, err
		}
		if d.Name != nil {
			o.Name = *d.Name
		}
		if d.Description != nil {
			o.Description = *d.Description
		}
		if d.TimeZone != nil {
			o.TimeZone = *d.TimeZone
			if o.TimeZone == "" {
				o.TimeZone = "UTC" // as at creation: no time zone counts in UTC
			}
		}
		o.UpdatedAt = d.UpdatedAt.UTC()
		return OrganizationResult{Organization: o, Position: r.Position}, nil
	})
}

// departmentAfter answers a rename or a move: change lays the event over the department read.
func (a *Application) departmentAfter(ctx context.Context, r Reply, orgID, deptID uuid.UUID, change func(*projections.Department)) (any, error) {
	return a.readBack(ctx, r, "department", func() (any, error) {
		d, err := a.dir.Department(ctx, orgID, deptID)
		if err != nil {
			return nil, err
		}
		change(&d)
		return DepartmentResult{Department: d, Position: r.Position}, nil
	})
}

func (a *Application) jobPositionAfter(ctx context.Context, r Reply, orgID, positionID uuid.UUID) (any, error) {
	d, err := eventData[domain.PositionUpdated](r)
	if err != nil {
		return nil, err
	}
	return a.readBack(ctx, r, "job position", func() (any, error) {
		all, err := a.dir.Positions(ctx, orgID)
		if err != nil {
			return nil, err
		}
		p, err := find(all, positionID, func(p projections.JobPosition) uuid.UUID { return p.ID })
		if err != nil {
			return nil, err
		}
		if d.Name != nil {
			p.Name = *d.Name
		}
		if d.Rank != nil {
			p.Rank = *d.Rank
		}
		return JobPositionResult{JobPosition: p, Position: r.Position}, nil
	})
}

func (a *Application) roleAfter(ctx context.Context, r Reply, orgID, roleID uuid.UUID) (any, error) {
	d, err := eventData[domain.OrgRoleUpdated](r)
	if err != nil {
		return nil, err
	}
	return a.readBack(ctx, r, "role", func() (any, error) {
		all, err := a.dir.Roles(ctx, orgID)
		if err != nil {
			return nil, err
		}
		role, err := find(all, roleID, func(r projections.OrgRole) uuid.UUID { return r.ID })
		if err != nil {
			return nil, err
		}
		if d.Name != nil {
			role.Name = *d.Name
		}
		if d.Permissions != nil {
			// The event holds them as stored: in the catalogue's order.
			role.Permissions = append([]string{}, *d.Permissions...)
		}
		return OrgRoleResult{Role: role, Position: r.Position}, nil
	})
}

// find is the element of list with id, or projections.ErrNotFound.
func find[T any](list []T, id uuid.UUID, idOf func(T) uuid.UUID) (T, error) {
	for _, v := range list {
		if idOf(v) == id {
			return v, nil
		}
	}
	var zero T
	return zero, fmt.Errorf("%s: %w", id, projections.ErrNotFound)
}
