package ops

import (
	"context"
	"errors"
	"io"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops/admin"
)

// Operations are the operations on one deployment, as Runner runs them.
type Operations interface {
	Replay(ctx context.Context, q EventQuery, format string, follow bool, caughtUp func() error, w io.Writer) (ReplayStats, error)
	EventStats(ctx context.Context, q EventQuery) (EventStats, error)
	Status(ctx context.Context, o StatusOptions) (StatusReport, error)
	Rebuild(ctx context.Context, projection string, o RebuildOptions) (RebuildResult, error)
	Verify(ctx context.Context, projection string, o VerifyOptions) (VerifyResult, error)
}

// Admin offers Operations as package admin says them, to the gateway's admin endpoints (which
// know neither Kafka nor this package): it reads their requests into this package's options and
// its errors into admin's.
type Admin struct {
	ops Operations
}

// NewAdmin offers o.
func NewAdmin(o Operations) Admin { return Admin{ops: o} }

// eventQuery reads q as NewEventQuery does with the admin API's parameter names.
func eventQuery(q admin.EventQuery) (EventQuery, error) {
	eq, err := NewEventQuery(EventQuerySpec{Topics: q.Topics, From: q.From, To: q.To, Types: q.Types, Room: q.Room, User: q.User}, nil)
	return eq, adminError(err)
}

// CheckEventQuery tells whether q can be run (an error wrapping admin.ErrInvalidQuery if not)
// and whether it has an end.
func (a Admin) CheckEventQuery(q admin.EventQuery) (ends bool, err error) {
	eq, err := eventQuery(q)
	return !eq.To.IsZero(), err
}

// Replay writes the events q chooses to w in format (ReplayTo); following, it calls caughtUp
// whenever it has written everything committed so far, and ends when ctx does.
func (a Admin) Replay(ctx context.Context, q admin.EventQuery, format string, follow bool, caughtUp func() error, w io.Writer) error {
	eq, err := eventQuery(q)
	if err != nil {
		return err
	}
	_, err = a.ops.Replay(ctx, eq, format, follow, caughtUp, w)
	return adminError(err)
}

// EventStats counts the events q chooses.
func (a Admin) EventStats(ctx context.Context, q admin.EventQuery) (any, error) {
	eq, err := eventQuery(q)
	if err != nil {
		return nil, err
	}
	st, err := a.ops.EventStats(ctx, eq)
	return st, adminError(err)
}

// Status is the status of the projections named (none: every one), with chorusctl's defaults.
func (a Admin) Status(ctx context.Context, projections []string) (any, error) {
	o := DefaultStatusOptions
	o.Projections = projections
	rep, err := a.ops.Status(ctx, o)
	return rep, adminError(err)
}

// Rebuild rebuilds the projection.
func (a Admin) Rebuild(ctx context.Context, projection string, r admin.RebuildRequest, p admin.Progress) (any, error) {
	res, err := a.ops.Rebuild(ctx, projection, RebuildOptions{Restart: r.Restart, Drop: r.Drop, Batch: r.Batch, Progress: p})
	return res, adminError(err)
}

// Verify verifies the projection.
func (a Admin) Verify(ctx context.Context, projection string, r admin.VerifyRequest, p admin.Progress) (any, error) {
	res, err := a.ops.Verify(ctx, projection, VerifyOptions{Examples: r.Examples, Batch: r.Batch, Progress: p})
	return res, adminError(err)
}

// Rebuildable are the projections Rebuild and Verify take.
func (a Admin) Rebuildable() []string { return RebuildableNames() }

// adminError gives err the admin error it is, where it is one of this package's own or
// Kafka's; the message stays err's.
func adminError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrInvalidQuery) {
		return kindError{err: err, kind: admin.ErrInvalidQuery}
	}
	var nt kafka.TopicNotFoundError
	if errors.As(err, &nt) {
		return kindError{err: err, kind: admin.NotFoundError{What: nt.Error()}}
	}
	return err
}

// kindError is err, also of kind for errors.Is and errors.As.
type kindError struct {
	err  error
	kind error
}

func (e kindError) Error() string   { return e.err.Error() }
func (e kindError) Unwrap() []error { return []error{e.err, e.kind} }
