package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// The organization's own commands: creating, updating and archiving it, its members and
// invitations, broadcasts (orgs_structure.go has its departments, positions and roles). The
// organization aggregate authorizes every one of them against its grants; what the use cases
// add is what it cannot know: whether a user named by a command exists, and that user's name.
//
// Every organization use case reads the idempotency key first, before the fields: a key too
// long to be one is refused whatever else is wrong with the request.

// Answers of the organization commands that create something: the view built from the accepted
// event, and the position of the command (for a read that must show it, ?position=).
type (
	OrganizationResult struct {
		Organization projections.Organization `json:"organization"`
		Position     string                   `json:"position"`
	}
	DepartmentResult struct {
		Department projections.Department `json:"department"`
		Position   string                 `json:"position"`
	}
	// JobPositionResult names the job position "job_position": "position" is the log's.
	JobPositionResult struct {
		JobPosition projections.JobPosition `json:"job_position"`
		Position    string                  `json:"position"`
	}
	OrgRoleResult struct {
		Role     projections.OrgRole `json:"role"`
		Position string              `json:"position"`
	}
	BroadcastResult struct {
		Broadcast projections.Broadcast `json:"broadcast"`
		Position  string                `json:"position"`
	}
	DepartmentRoomResult struct {
		DepartmentRoom projections.DepartmentRoom `json:"department_room"`
		Position       string                     `json:"position"`
	}
)

// CreateOrganization is the input of create_organization; Name and Slug are required.
type CreateOrganization struct {
	Name, Slug            *string
	Description, TimeZone string
	Key                   string
}

// Check finds what is missing in the input.
func (in CreateOrganization) Check() error {
	if in.Name == nil {
		return Required("name")
	}
	if in.Slug == nil {
		return Required("slug")
	}
	return nil
}

// CreateOrganization opens an organization owned by the actor. Its id is the slug's
// (domain.OrgIDFor), so every creation of one slug goes to one aggregate, which answers the
// second slug_taken; with an idempotency key a retry is the same command and answers the first
// result instead. Its answer is an OrganizationResult.
func (a *Application) CreateOrganization(ctx context.Context, actor uuid.UUID, in CreateOrganization) (Action, error) {
	if err := checkKey(in.Key); err != nil {
		return Action{}, err
	}
	if err := in.Check(); err != nil {
		return Action{}, err
	}
	p := domain.CreateOrganization{Name: *in.Name, Slug: *in.Slug, Description: in.Description, TimeZone: in.TimeZone}
	return a.prepare(ctx, actor, domain.OrgIDFor(*in.Slug), in.Key, p, func(r Reply) (any, error) {
		d, err := eventData[domain.OrganizationCreated](r)
		if err != nil {
			return nil, err
		}
		return OrganizationResult{Organization: projections.OrganizationOf(d), Position: r.Position}, nil
	})
}

// UpdateOrganization is the input of update_organization: an absent field is left as it is.
type UpdateOrganization struct {
	OrgID                       uuid.UUID
	Name, Description, TimeZone *string
	Key                         string
}

// UpdateOrganization changes an organization's settings (manage_organization). Its answer is
// an OrganizationResult, the organization read back from the directory (orgs_readback.go).
func (a *Application) UpdateOrganization(ctx context.Context, actor uuid.UUID, in UpdateOrganization) (Action, error) {
	p := domain.UpdateOrganization{Name: in.Name, Description: in.Description, TimeZone: in.TimeZone}
	return a.prepare(ctx, actor, in.OrgID, in.Key, p, func(r Reply) (any, error) {
		return a.organizationAfter(ctx, r, in.OrgID)
	})
}

// ArchiveOrganization freezes an organization (an owner). Its answer is a PositionResult.
func (a *Application) ArchiveOrganization(ctx context.Context, actor, orgID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, orgID, key, domain.ArchiveOrganization{}, positionOnly)
}

// UnarchiveOrganization thaws an archived organization (an owner). Its answer is a
// PositionResult.
func (a *Application) UnarchiveOrganization(ctx context.Context, actor, orgID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, orgID, key, domain.UnarchiveOrganization{}, positionOnly)
}

// AddOrgMember makes a user a member at once (manage_members). Its answer is a PositionResult.
func (a *Application) AddOrgMember(ctx context.Context, actor, orgID, userID uuid.UUID, key string) (Action, error) {
	return a.naming(ctx, actor, orgID, userID, key, domain.CmdAddOrgMember, func(name string) domain.CommandData {
		return domain.AddOrgMember{UserID: userID, Username: name}
	}, positionOnly)
}

// InviteOrgMember invites a user, who may accept or decline (manage_members). Its answer is a
// PositionResult.
func (a *Application) InviteOrgMember(ctx context.Context, actor, orgID, userID uuid.UUID, key string) (Action, error) {
	return a.naming(ctx, actor, orgID, userID, key, domain.CmdInviteOrgMember, func(name string) domain.CommandData {
		return domain.InviteOrgMember{UserID: userID, Username: name}
	}, positionOnly)
}

// AcceptOrgInvitation makes the invited actor a member. Its answer is a PositionResult.
func (a *Application) AcceptOrgInvitation(ctx context.Context, actor, orgID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, orgID, key, domain.AcceptOrgInvitation{}, positionOnly)
}

// DeclineOrgInvitation drops the actor's invitation. Its answer is a PositionResult.
func (a *Application) DeclineOrgInvitation(ctx context.Context, actor, orgID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, orgID, key, domain.DeclineOrgInvitation{}, positionOnly)
}

// RemoveOrgMember ends another member's membership (manage_members). Its answer is a
// PositionResult.
func (a *Application) RemoveOrgMember(ctx context.Context, actor, orgID, userID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, orgID, key, domain.RemoveOrgMember{UserID: userID}, positionOnly)
}

// LeaveOrganization ends the actor's own membership (not the last owner's). Its answer is a
// PositionResult.
func (a *Application) LeaveOrganization(ctx context.Context, actor, orgID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, orgID, key, domain.LeaveOrganization{}, positionOnly)
}

// BroadcastToOrganization is the input of broadcast_to_organization; Title and Body are
// required.
type BroadcastToOrganization struct {
	OrgID       uuid.UUID
	Title, Body *string
	Key         string
}

// Check finds what is missing in the input.
func (in BroadcastToOrganization) Check() error {
	if in.Title == nil {
		return Required("title")
	}
	if in.Body == nil {
		return Required("body")
	}
	return nil
}

// BroadcastToOrganization announces something to every member (broadcast). Its answer is a
// BroadcastResult.
func (a *Application) BroadcastToOrganization(ctx context.Context, actor uuid.UUID, in BroadcastToOrganization) (Action, error) {
	if err := checkKey(in.Key); err != nil {
		return Action{}, err
	}
	if err := in.Check(); err != nil {
		return Action{}, err
	}
	p := domain.BroadcastToOrganization{Title: *in.Title, Body: *in.Body}
	return a.prepare(ctx, actor, in.OrgID, in.Key, p, func(r Reply) (any, error) {
		d, err := eventData[domain.OrgBroadcastSent](r)
		if err != nil {
			return nil, err
		}
		return BroadcastResult{Broadcast: projections.BroadcastOf(d), Position: r.Position}, nil
	})
}

// naming builds a command that names another user, after spending the actor's budget. The
// organization cannot know whether a user exists, so the read model is asked, as the room's
// invite and ban do: an unknown user is user_not_found rather than a member or a grant nobody
// can ever use. The command is built with the user's name (events name the member).
func (a *Application) naming(ctx context.Context, actor, orgID, user uuid.UUID, key, commandType string,
	payload func(username string) domain.CommandData, result func(Reply) (any, error)) (Action, error) {
	if err := checkKey(key); err != nil {
		return Action{}, err
	}
	if err := a.admit(ctx, actor, commandType); err != nil {
		return Action{}, err
	}
	name, err := a.username(ctx, user)
	if err != nil {
		return Action{}, err
	}
	return a.build(ctx, actor, orgID, key, payload(name), result)
}

// username is the name of an existing user (cached: usernames never change), or
// user_not_found.
func (a *Application) username(ctx context.Context, user uuid.UUID) (string, error) {
	if name, ok := a.names.get(user); ok {
		return name, nil
	}
	u, err := a.rm.UserByID(ctx, user)
	if errors.Is(err, projections.ErrNotFound) {
		return "", &Error{Code: domain.CodeUserNotFound, Message: "no such user"}
	}
	if err != nil {
		return "", err
	}
	a.names.put(user, u.Username)
	return u.Username, nil
}

// eventOf finds the event of type T among an accepted reply's events, with its envelope (the
// time of an event whose data has none).
func eventOf[T domain.EventData](r Reply) (domain.Event, T, error) {
	for _, e := range r.Events {
		if d, ok := e.Data.(T); ok {
			return e, d, nil
		}
	}
	var zero T
	return domain.Event{}, zero, fmt.Errorf("accepted reply to command %s carries no %s event", r.CommandID, zero.EventType())
}
