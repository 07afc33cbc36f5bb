package directory

import (
	"context"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/projections"
)

// Department returns one department of org as the organization commands answer it (without
// the org chart's counts: one indexed row), ErrNotFound if org has no such department. The
// answers of renaming and moving a department read it back, and a directory filter checks
// that its department exists. It does not check who may see it.
func (s *Store) Department(ctx context.Context, org, id uuid.UUID) (projections.Department, error) {
	var d projections.Department
	err := s.pool.QueryRow(ctx, `SELECT id, parent_id, name, sort_order, head_id FROM org_departments
		WHERE org_id = $1 AND id = $2`, org, id).Scan(&d.ID, &d.ParentID, &d.Name, &d.SortOrder, &d.HeadID)
	if err != nil {
		return projections.Department{}, notFound("department "+id.String(), err)
	}
	return d, nil
}
