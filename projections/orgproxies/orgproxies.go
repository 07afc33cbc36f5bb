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
	KindGrant  = "grant"
	KindRevoke = "revoke"
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
	StatusPending    = projections.ProxyStatusPending
	StatusGranted    = projections.ProxyStatusGranted
	StatusRevoked    = projections.ProxyStatusRevoked
	StatusRefused    = projections.ProxyStatusRefused
	StatusNotInForce = projections.ProxyStatusNotInForce
)

// ErrNotFound: no such authorization (yet: the manager may lag behind the organization).
var ErrNotFound = projections.ErrNotFound

// authorizationSQL reads authorizations with whether their grant is in the read model
// (user_proxies): a grant is granted once there, a revocation done once gone from there.
const authorizationSQL = `SELECT a.authorization_id, a.org_id, a.kind, a.grant_id, a.principal_id, a.delegate_id, a.scope,
	a.starts_at, a.ends_at, a.authorized_by, a.authorized_at, coalesce(a.refused_code, ''), coalesce(a.refused_message, ''),
	EXISTS (SELECT 1 FROM user_proxies p WHERE p.grant_id = a.grant_id)
	FROM orgproxies_authorizations a`

func scanAuthorization(r pgx.CollectableRow) (Authorization, error) {
	var a Authorization
	var inForce bool
	err := r.Scan(&a.ID, &a.OrgID, &a.Kind, &a.GrantID, &a.PrincipalID, &a.DelegateID, &a.Scope, &a.StartsAt, &a.EndsAt,
		&a.AuthorizedBy, &a.AuthorizedAt, &a.Code, &a.Message, &inForce)
	a.AuthorizedAt = a.AuthorizedAt.UTC()
	for _, t := range []*time.Time{a.StartsAt, a.EndsAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
	switch {
	case a.Code != "":
		a.Status = StatusRefused
	case a.Kind == KindGrant && inForce:
		a.Status = StatusGranted
	case a.Kind == KindGrant:
		a.Status = StatusNotInForce
	case !inForce:
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

// ProxyAuthorizations lists org's authorizations, newest first, at most limit; by, when not
// nil, keeps those its admin made.
func (s *Store) ProxyAuthorizations(ctx context.Context, org uuid.UUID, by *uuid.UUID, limit int) ([]Authorization, error) {
	rows, err := s.pool.Query(ctx, authorizationSQL+` WHERE a.org_id = $1 AND ($2::uuid IS NULL OR a.authorized_by = $2)
		ORDER BY a.authorized_at DESC, a.authorization_id LIMIT $3`, org, by, limit)
	if err != nil {
		return nil, fmt.Errorf("proxy authorizations of %s: %w", org, err)
	}
	out, err := pgx.CollectRows(rows, scanAuthorization)
	if err != nil {
		return nil, fmt.Errorf("proxy authorizations of %s: %w", org, err)
	}
	return out, nil
}
