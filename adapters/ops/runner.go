// Package ops is what analysts and admins run against a deployment, beside the chat: how far
// each projection is behind the log (Status), and rebuilding a projection from offset 0 beside the
// live one with an atomic swap (Rebuild) or into a scratch copy compared with it (Verify).
// chorusctl and the gateway's /api/v1/admin endpoints both call it.
package ops

import (
	"context"
	"io"

	"github.com/chorus-chat/chorus/adapters/kafka"
)

// Runner runs the operations against one deployment: what the gateway's admin endpoints call.
type Runner struct {
	Deps
	// Kafka is the cluster's configuration, for the replays (which open clients of their own).
	Kafka kafka.Config
}

// Replay is ReplayTo on r's deployment. Following, it calls caughtUp (if not nil) whenever it
// has written everything committed so far, and ends when ctx does.
func (r Runner) Replay(ctx context.Context, q EventQuery, format string, follow bool, caughtUp func() error, w io.Writer) (ReplayStats, error) {
	return ReplayTo(ctx, r.Kafka, q, format, ReplayOptions{Follow: follow, OnCaughtUp: caughtUp}, w)
}

// EventStats is Stats on r's deployment.
func (r Runner) EventStats(ctx context.Context, q EventQuery) (EventStats, error) {
	st, _, err := Stats(ctx, r.Kafka, q, ReplayOptions{})
	return st, err
}

// Status is Status on r's deployment.
func (r Runner) Status(ctx context.Context, o StatusOptions) (StatusReport, error) {
	return Status(ctx, r.Deps, o)
}

// Rebuild is Rebuild on r's deployment.
func (r Runner) Rebuild(ctx context.Context, name string, o RebuildOptions) (RebuildResult, error) {
	return Rebuild(ctx, r.Deps, name, o)
}

// Verify is Verify on r's deployment.
func (r Runner) Verify(ctx context.Context, name string, o VerifyOptions) (VerifyResult, error) {
	return Verify(ctx, r.Deps, name, o)
}
