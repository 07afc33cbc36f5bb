package commands

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// User proxies (domain/proxy.go): a principal grants a delegate the right to send commands for
// them; the delegate sends a room command with on_behalf_of, which ActFor checks against the
// principal's grants in the read model and turns into the principal's command, acting_id the
// delegate's. The grants are read from Postgres on every such command, never cached: a
// revocation is in force on every gateway as soon as the read model has it, and RevokeProxy
// answers only then.

// Proxies is what the use cases read of the proxy grants (readmodel.Store). ProxyGrants lists
// the grants of principal to delegate in force at at; RoomOrganization is the organization a
// room belongs to (a department's room), uuid.Nil for any other room.
type Proxies interface {
	ProxyGrants(ctx context.Context, principal, delegate uuid.UUID, at time.Time) ([]projections.ProxyGrant, error)
	RoomOrganization(ctx context.Context, room uuid.UUID) (uuid.UUID, error)
}

// ProxyLookups is what the organizations' proxy use cases read of the grants (readmodel.Store):
// ProxyGrantsOf lists the grants a user gave or holds that have not ended at at; ProxyGrant is
// one grant not revoked (projections.ErrNotFound else).
type ProxyLookups interface {
	ProxyGrantsOf(ctx context.Context, user uuid.UUID, at time.Time) ([]projections.ProxyGrant, error)
	ProxyGrant(ctx context.Context, id uuid.UUID) (projections.ProxyGrant, error)
}

// GrantProxy is the input of grant_proxy. Times are RFC 3339; an absent starts_at is now.
type GrantProxy struct {
	DelegateID *string
	Scope      string
	OrgID      *string
	StartsAt   *string
	EndsAt     *string
	Key        string
}

// ProxyResult is the answer of grant_proxy.
type ProxyResult struct {
	Grant    projections.ProxyGrant `json:"grant"`
	Position string                 `json:"position"`
}

// Check finds what is missing or malformed in the input.
func (in GrantProxy) Check() error {
	if _, err := ParseID("delegate_id", in.DelegateID); err != nil {
		return err
	}
	if _, err := ParseOptionalID("org_id", in.OrgID); err != nil {
		return err
	}
	if in.EndsAt == nil {
		return Required("ends_at")
	}
	for field, s := range map[string]*string{"starts_at": in.StartsAt, "ends_at": in.EndsAt} {
		if s != nil {
			if _, err := time.Parse(time.RFC3339Nano, *s); err != nil {
				return &FieldError{Message: field + " is not an RFC 3339 time"}
			}
		}
	}
	return nil
}

// GrantProxy lets a delegate act for actor. The delegate must exist; the domain decides the
// rest (no proxy to yourself, the range, overlaps).
func (a *Application) GrantProxy(ctx context.Context, actor uuid.UUID, in GrantProxy) (Action, error) {
	if err := checkKey(in.Key); err != nil {
		return Action{}, err
	}
	if err := in.Check(); err != nil {
		return Action{}, err
	}
	delegate, _ := ParseID("delegate_id", in.DelegateID)
	org, _ := ParseOptionalID("org_id", in.OrgID)
	ends, _ := time.Parse(time.RFC3339Nano, *in.EndsAt)
	starts := time.Now().UTC()
	if in.StartsAt != nil {
		starts, _ = time.Parse(time.RFC3339Nano, *in.StartsAt)
	}
	if delegate != actor {
		if _, err := a.rm.UserByID(ctx, delegate); errors.Is(err, projections.ErrNotFound) {
			return Action{}, newError(domain.CodeUserNotFound, "user %s does not exist", delegate)
		} else if err != nil {
			return Action{}, err
		}
	}
	p := domain.GrantProxy{PrincipalID: actor, DelegateID: delegate, Scope: in.Scope, OrgID: org, StartsAt: starts, EndsAt: ends}
	return a.prepare(ctx, actor, domain.ProxiesIDFor(actor), in.Key, p, func(r Reply) (any, error) {
		d, err := eventData[domain.ProxyGranted](r)
		if err != nil {
			return nil, err
		}
		return ProxyResult{Grant: projections.ProxyGrantOf(d), Position: r.Position}, nil
	})
}

// RevokeProxy ends a grant of actor's (or one actor holds, when principal is another user).
// It answers once the read model has the revocation, which is when every gateway refuses the
// grant; if the read model does not get there within PositionWait the answer is
// not_caught_up, the revocation being recorded all the same.
func (a *Application) RevokeProxy(ctx context.Context, actor, principal, grant uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, domain.ProxiesIDFor(principal), key, domain.RevokeProxy{GrantID: grant},
		func(r Reply) (any, error) {
			pos, err := domain.ParsePosition(r.Position)
			if err != nil {
				return nil, err
			}
			if err := a.rm.WaitFor(ctx, pos, a.positionWait); err != nil {
				return nil, &Error{Code: CodeNotCaughtUp, Message: "the grant is revoked, but a gateway may still accept it until the read model reaches position " + r.Position}
			}
			return PositionResult{Position: r.Position}, nil
		})
}

// ActFor turns a delegate's prepared command into principal's, if a grant of principal's in
// force covers it: the command's actor becomes the principal (whose rights the aggregate
// decides with) and acting_id the delegate. Anything else is forbidden, and the action is
// released.
func (a *Application) ActFor(ctx context.Context, act Action, principal uuid.UUID) (Action, error) {
	delegate := act.Command.ActorID
	if principal == delegate {
		return act, nil
	}
	err := a.proxyAllows(ctx, principal, delegate, act.Command)
	var name string
	if err == nil {
		name, err = a.ActorName(ctx, principal)
	}
	if err != nil {
		a.Discard(act)
		return Action{}, err
	}
	act.Command.ActorID, act.Command.ActorName, act.Command.ActingID = principal, name, &delegate
	return act, nil
}

func (a *Application) proxyAllows(ctx context.Context, principal, delegate uuid.UUID, cmd domain.Command) error {
	if !domain.ProxyScopeCovers(domain.ProxyScopeRooms, cmd.Type) {
		return notDelegable(cmd.Type)
	}
	if a.proxies == nil {
		return newError(domain.CodeForbidden, "this server does not take commands on behalf of others")
	}
	grants, err := a.proxies.ProxyGrants(ctx, principal, delegate, time.Now())
	if err != nil {
		return err
	}
	var roomOrg *uuid.UUID
	for _, g := range grants {
		if !domain.ProxyScopeCovers(g.Scope, cmd.Type) {
			continue
		}
		if g.OrgID != nil {
			if roomOrg == nil {
				o, err := a.proxies.RoomOrganization(ctx, cmd.AggregateID)
				if err != nil {
					return err
				}
				roomOrg = &o
			}
			if *roomOrg != *g.OrgID {
				continue
			}
		}
		return nil
	}
	return newError(domain.CodeForbidden, "no grant in force lets you send %s on behalf of %s", cmd.Type, principal)
}

// notDelegable is the refusal of a command no grant can cover, whatever its scope or
// organization: only room commands are sent on behalf of another user. An organization's
// command, even with a grant limited to that organization, is its sender's own: the
// organization authorizes its members, not their delegates.
func notDelegable(commandType string) error {
	if k, err := domain.KindOfCommand(commandType); err == nil && k.Name == domain.AggregateOrganization {
		return newError(domain.CodeForbidden, "%s is an organization command: a proxy grant covers room commands only, so it cannot be sent on behalf of another user", commandType)
	}
	return newError(domain.CodeForbidden, "%s cannot be sent on behalf of another user: a proxy grant covers room commands only", commandType)
}

// Discard frees what an action holds without dispatching it (a transport refusing it after the
// use case prepared it).
func (a *Application) Discard(act Action) {
	if act.release != nil {
		act.release()
	}
}
