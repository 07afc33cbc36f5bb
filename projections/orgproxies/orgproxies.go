// Package orgproxies is the process manager of the proxies organizations authorize
// (domain/organization_proxies.go): it follows the organizations' events (org-events) and turns
// each ProxyAuthorized into a grant_proxy, and each ProxyRevocationAuthorized into a
// revoke_proxy, sent to the principal's proxies as the server (domain.SystemActorID) with the
// authorization's reference; what the proxies refuse, its Relay records back on the
// organization (record_proxy_refusal → ProxyAuthorizationRefused), so nothing the organization
// accepted is lost without a trace.
//
// It runs as a projection of the table of projections: its own consumer group and checkpoint
// ("orgproxies"), its table of authorizations (with the refusal of each, if any) written in the
// transaction that advances its checkpoint, together with the commands the events decide, queued
// in an outbox. After the commit the Relay sends the outbox through the command log, in order,
// and drops each command once it is answered and, if refused, the refusal recorded: at least
// once. Every command's id derives from its authorization (domain.ProxyRelayCommandID,
// domain.ProxyRefusalCommandID), so a command sent again after a crash is the same command,
// answered with its first result; past the aggregate's memory of ids, the proxies recognize a
// grant they made from its id (domain.Proxies.Applied).
package orgproxies

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Projection is the name under which the manager stores its checkpoints.
const Projection = "orgproxies"

// ActorName is the name the manager's commands carry.
const ActorName = "chorus"

// Record is one event as read from the log, with where it sits there.
type Record = checkpoint.Record

// Definition is the manager's row in the table of projections.
var Definition = checkpoint.Definition{
	Name:   Projection,
	Tables: []string{"orgproxies_authorizations"},
	// What a rebuild decides was sent when the live manager first decided it.
	Private: []string{`CREATE TABLE IF NOT EXISTS %[1]s.orgproxies_outbox (seq bigserial PRIMARY KEY, principal_id uuid NOT NULL, command jsonb NOT NULL)`},
	ApplyIn: func(ctx context.Context, pool *pgxpool.Pool, schema, projection string, recs []checkpoint.Record) error {
		if schema == "" {
			return fmt.Errorf("orgproxies: apply batch: no schema given")
		}
		_, err := NewStore(pool).apply(ctx, schema, projection, recs)
		return err
	},
}

// Store is the manager's state in Postgres.
type Store struct {
	pool *pgxpool.Pool
	// committed wakes the relay after a batch that queued commands was committed.
	committed chan struct{}
}

// NewStore returns a Store over pool, whose database must be migrated.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, committed: make(chan struct{}, 1)}
}

// Committed is signalled after a batch that queued commands was committed.
func (s *Store) Committed() <-chan struct{} { return s.committed }

// Checkpoints returns the manager's next offsets.
func (s *Store) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return checkpoint.Load(ctx, s.pool, Projection)
}

// ApplyBatch applies recs, queues the commands they decide and advances the checkpoints past
// them, in one transaction; records below the stored checkpoint are skipped, so a batch
// redelivered after a crash queues nothing twice.
func (s *Store) ApplyBatch(ctx context.Context, recs []Record) error {
	queued, err := s.apply(ctx, "", Projection, recs)
	if err != nil {
		return err
	}
	if queued > 0 {
		select {
		case s.committed <- struct{}{}:
		default:
		}
	}
	return nil
}

// Kinds of authorization (orgproxies_authorizations.kind).
const (
	KindGrant  = projections.ProxyKindGrant
	KindRevoke = projections.ProxyKindRevoke
)

func (s *Store) apply(ctx context.Context, schema, projection string, recs []Record) (int, error) {
	var cmds []domain.Command
	var principals []uuid.UUID
	_, err := checkpoint.Apply(ctx, s.pool, schema, projection, recs, func(st *checkpoint.Statements, r Record) {
		switch d := r.Event.Data.(type) {
		case domain.ProxyAuthorized:
			st.Batch.Queue(`INSERT INTO orgproxies_authorizations (authorization_id, org_id, kind, grant_id, principal_id, delegate_id,
				scope, starts_at, ends_at, authorized_by, authorized_at) VALUES ($1, $2, 'grant', $3, $4, $5, $6, $7, $8, $9, $10)
				ON CONFLICT (authorization_id) DO NOTHING`, d.AuthorizationID, d.OrgID, d.GrantID, d.PrincipalID, d.DelegateID,
				d.Scope, d.StartsAt, d.EndsAt, d.AuthorizedBy, d.AuthorizedAt)
			st.Describe(r, []string{"record the authorization"})
			cmds, principals = append(cmds, grantCommand(r.Event, d)), append(principals, d.PrincipalID)
		case domain.ProxyRevocationAuthorized:
			st.Batch.Queue(`INSERT INTO orgproxies_authorizations (authorization_id, org_id, kind, grant_id, principal_id,
				authorized_by, authorized_at) VALUES ($1, $2, 'revoke', $3, $4, $5, $6) ON CONFLICT (authorization_id) DO NOTHING`,
				d.AuthorizationID, d.OrgID, d.GrantID, d.PrincipalID, d.RevokedBy, d.RevokedAt)
			st.Describe(r, []string{"record the revocation"})
			cmds, principals = append(cmds, revokeCommand(r.Event, d)), append(principals, d.PrincipalID)
		case domain.ProxyAuthorizationRefused:
			st.Batch.Queue(`UPDATE orgproxies_authorizations SET refused_code = $2, refused_message = $3 WHERE authorization_id = $1`,
				d.AuthorizationID, d.Code, d.Message)
			st.Describe(r, []string{"record the refusal"})
		}
	}, func(_ context.Context, _ pgx.Tx, st *checkpoint.Statements) error {
		if len(cmds) == 0 {
			return nil
		}
		raw := make([]string, len(cmds))
		for i, c := range cmds {
			j, err := json.Marshal(c)
			if err != nil {
				return err
			}
			raw[i] = string(j)
		}
		st.Batch.Queue(`INSERT INTO orgproxies_outbox (principal_id, command)
			SELECT p, c::jsonb FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS t(p, c, i) ORDER BY i`, principals, raw)
		st.Note("queue proxy commands")
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("orgproxies: %w", err)
	}
	return len(cmds), nil
}

// grantCommand is the grant_proxy an authorization decides: limited to the organization's
// rooms, carrying the authorization, its id derived from it.
func grantCommand(e domain.Event, d domain.ProxyAuthorized) domain.Command {
	org := d.OrgID
	return domain.NewCommand(domain.ProxyRelayCommandID(d.AuthorizationID), domain.ProxiesIDFor(d.PrincipalID), domain.SystemActorID,
		ActorName, e.OccurredAt, domain.GrantProxy{PrincipalID: d.PrincipalID, DelegateID: d.DelegateID, Scope: d.Scope, OrgID: &org,
			StartsAt: d.StartsAt, EndsAt: d.EndsAt,
			Authorization: &domain.ProxyAuthorization{OrgID: d.OrgID, AuthorizationID: d.AuthorizationID, AuthorizedBy: d.AuthorizedBy}})
}

func revokeCommand(e domain.Event, d domain.ProxyRevocationAuthorized) domain.Command {
	return domain.NewCommand(domain.ProxyRelayCommandID(d.AuthorizationID), domain.ProxiesIDFor(d.PrincipalID), domain.SystemActorID,
		ActorName, e.OccurredAt, domain.RevokeProxy{GrantID: d.GrantID,
			Authorization: &domain.ProxyAuthorization{OrgID: d.OrgID, AuthorizationID: d.AuthorizationID, AuthorizedBy: d.RevokedBy}})
}

// NewHandler runs the manager in a projector: it applies into store and counts dead letters in
// dead.
func NewHandler(store *Store, dead checkpoint.DeadLetters) checkpoint.StoreHandler {
	return checkpoint.StoreHandler{Projection: Projection, Store: store, Dead: dead}
}

// Authorization is one authorization with what became of it (projections.ProxyAuthorization).
type Authorization = projections.ProxyAuthorization

// Statuses of an authorization.
const (
	StatusPending = projections.ProxyStatusPending
	StatusGranted = projections.ProxyStatusGranted
	StatusEnded   = projections.ProxyStatusEnded
	StatusRevoked = projections.ProxyStatusRevoked
	StatusRefused = projections.ProxyStatusRefused
)

// ErrNotFound: no such authorization (yet: the manager may lag behind the organization).
var ErrNotFound = projections.ErrNotFound

// MaxAuthorizations bounds a page of ProxyAuthorizations.
const MaxAuthorizations = 500

// authorizationSQL reads authorizations with their grant as the read model holds it
// (user_proxies, which keeps a revoked grant marked revoked): a grant is made once there, a
// revocation done once the grant is revoked there (or not there at all).
const authorizationSQL = `SELECT a.authorization_id, a.org_id, a.kind, a.grant_id, a.principal_id, a.delegate_id, a.scope,
	a.starts_at, a.ends_at, a.authorized_by, a.authorized_at, coalesce(a.refused_code, ''), coalesce(a.refused_message, ''),
	p.grant_id IS NOT NULL, p.ends_at, p.revoked_at, p.revoked_by
	FROM orgproxies_authorizations a LEFT JOIN user_proxies p ON p.grant_id = a.grant_id`

func scanAuthorization(r pgx.CollectableRow) (Authorization, error) {
	var a Authorization
	var held bool
	var ends, revokedAt *time.Time
	var revokedBy *uuid.UUID
	err := r.Scan(&a.ID, &a.OrgID, &a.Kind, &a.GrantID, &a.PrincipalID, &a.DelegateID, &a.Scope, &a.StartsAt, &a.EndsAt,
		&a.AuthorizedBy, &a.AuthorizedAt, &a.Code, &a.Message, &held, &ends, &revokedAt, &revokedBy)
	a.AuthorizedAt = a.AuthorizedAt.UTC()
	for _, t := range []*time.Time{a.StartsAt, a.EndsAt, revokedAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
	switch {
	case a.Code != "":
		a.Status = StatusRefused
	case a.Kind == KindGrant && !held:
		a.Status = StatusPending
	case a.Kind == KindGrant && revokedAt != nil:
		a.Status, a.RevokedAt, a.RevokedBy = StatusRevoked, revokedAt, revokedBy
	case a.Kind == KindGrant && ends != nil && !ends.After(time.Now()):
		a.Status = StatusEnded
	case a.Kind == KindGrant:
		a.Status = StatusGranted
	case !held || revokedAt != nil:
		a.Status = StatusRevoked
	default:
		a.Status = StatusPending
	}
	return a, err
}

// ProxyAuthorization reads one authorization of org, ErrNotFound when the manager has not
// applied it (yet).
func (s *Store) ProxyAuthorization(ctx context.Context, org, id uuid.UUID) (Authorization, error) {
	rows, err := s.pool.Query(ctx, authorizationSQL+` WHERE a.authorization_id = $1 AND a.org_id = $2`, id, org)
	if err != nil {
		return Authorization{}, fmt.Errorf("proxy authorization %s: %w", id, err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, scanAuthorization)
	if errors.Is(err, pgx.ErrNoRows) {
		return Authorization{}, ErrNotFound
	}
	if err != nil {
		return Authorization{}, fmt.Errorf("proxy authorization %s: %w", id, err)
	}
	return a, nil
}

// ProxyAuthorizations lists a page of org's authorizations, newest first (by authorized_at
// descending, then id), as q selects, and the cursor of the next page (nil on the last). A scoped query
// keeps the principals who are members of the departments' subtrees as the directory holds
// them (org_departments' paths, org_department_members).
func (s *Store) ProxyAuthorizations(ctx context.Context, org uuid.UUID, q projections.ProxyAuthorizationQuery) (
	[]Authorization, *projections.ProxyAuthorizationCursor, error) {
	if q.Limit <= 0 || q.Limit > MaxAuthorizations {
		return nil, nil, fmt.Errorf("proxy authorizations: limit %d out of 1..%d", q.Limit, MaxAuthorizations)
	}
	var beforeAt *time.Time
	var beforeID *uuid.UUID
	if q.Before != nil {
		beforeAt, beforeID = &q.Before.At, &q.Before.ID
	}
	depts := q.Departments
	if depts == nil {
		depts = []uuid.UUID{}
	}
	rows, err := s.pool.Query(ctx, authorizationSQL+` WHERE a.org_id = $1 AND ($2 = '' OR a.kind = $2)
		AND ($3::timestamptz IS NULL OR a.authorized_at < $3 OR a.authorized_at = $3 AND a.authorization_id > $4::uuid)
		AND (NOT $5 OR EXISTS (SELECT 1 FROM org_department_members m JOIN org_departments d ON d.id = m.department_id
			WHERE m.org_id = a.org_id AND m.user_id = a.principal_id AND d.path && $6::uuid[]))
		ORDER BY a.authorized_at DESC, a.authorization_id LIMIT $7`,
		org, q.Kind, beforeAt, beforeID, q.Scoped, depts, q.Limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("proxy authorizations of %s: %w", org, err)
	}
	out, err := pgx.CollectRows(rows, scanAuthorization)
	if err != nil {
		return nil, nil, fmt.Errorf("proxy authorizations of %s: %w", org, err)
	}
	if len(out) <= q.Limit {
		return out, nil, nil
	}
	out = out[:q.Limit]
	last := out[len(out)-1]
	return out, &projections.ProxyAuthorizationCursor{At: last.AuthorizedAt, ID: last.ID}, nil
}
