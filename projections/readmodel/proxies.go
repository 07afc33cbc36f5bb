package readmodel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/projections"
)

// ProxyGrants lists the grants of principal to delegate in force at at (commands.Proxies).
func (s *Store) ProxyGrants(ctx context.Context, principal, delegate uuid.UUID, at time.Time) ([]projections.ProxyGrant, error) {
	rows, err := s.pool.Query(ctx, `SELECT grant_id, principal_id, delegate_id, scope, org_id, starts_at, ends_at
		FROM user_proxies WHERE principal_id = $1 AND delegate_id = $2 AND revoked_at IS NULL AND starts_at <= $3 AND ends_at > $3
		ORDER BY starts_at`, principal, delegate, at)
	if err != nil {
		return nil, fmt.Errorf("proxy grants of %s to %s: %w", principal, delegate, err)
	}
	out, err := pgx.CollectRows(rows, scanProxyGrant)
	if err != nil {
		return nil, fmt.Errorf("proxy grants of %s to %s: %w", principal, delegate, err)
	}
	return out, nil
}

// RoomOrganization is the organization whose department owns room, uuid.Nil for a room of no
// organization. It reads the directory's table of department rooms.
func (s *Store) RoomOrganization(ctx context.Context, room uuid.UUID) (uuid.UUID, error) {
	var org uuid.UUID
	err := s.pool.QueryRow(ctx, `SELECT org_id FROM org_department_rooms WHERE room_id = $1 LIMIT 1`, room).Scan(&org)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, nil
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("organization of room %s: %w", room, err)
	}
	return org, nil
}

// ProxyGrantsOf lists the grants user gave or holds that have not ended at at, by start
// (queries.Proxies).
func (s *Store) ProxyGrantsOf(ctx context.Context, user uuid.UUID, at time.Time) ([]projections.ProxyGrant, error) {
	rows, err := s.pool.Query(ctx, `SELECT grant_id, principal_id, delegate_id, scope, org_id, starts_at, ends_at
		FROM user_proxies WHERE (principal_id = $1 OR delegate_id = $1) AND revoked_at IS NULL AND ends_at > $2
		ORDER BY starts_at, grant_id`, user, at)
	if err != nil {
		return nil, fmt.Errorf("proxy grants of %s: %w", user, err)
	}
	out, err := pgx.CollectRows(rows, scanProxyGrant)
	if err != nil {
		return nil, fmt.Errorf("proxy grants of %s: %w", user, err)
	}
	return out, nil
}

func scanProxyGrant(r pgx.CollectableRow) (projections.ProxyGrant, error) {
	var g projections.ProxyGrant
	err := r.Scan(&g.ID, &g.PrincipalID, &g.DelegateID, &g.Scope, &g.OrgID, &g.StartsAt, &g.EndsAt)
	g.StartsAt, g.EndsAt = g.StartsAt.UTC(), g.EndsAt.UTC()
	return g, err
}

// ProxyGrant is the grant id if it was made and not revoked (projections.ErrNotFound else).
func (s *Store) ProxyGrant(ctx context.Context, id uuid.UUID) (projections.ProxyGrant, error) {
	rows, err := s.pool.Query(ctx, `SELECT grant_id, principal_id, delegate_id, scope, org_id, starts_at, ends_at
		FROM user_proxies WHERE grant_id = $1 AND revoked_at IS NULL`, id)
	if err != nil {
		return projections.ProxyGrant{}, fmt.Errorf("proxy grant %s: %w", id, err)
	}
	g, err := pgx.CollectExactlyOneRow(rows, scanProxyGrant)
	if errors.Is(err, pgx.ErrNoRows) {
		return projections.ProxyGrant{}, projections.ErrNotFound
	}
	if err != nil {
		return projections.ProxyGrant{}, fmt.Errorf("proxy grant %s: %w", id, err)
	}
	return g, nil
}
