// Package ops is what analysts and admins run against a deployment, beside the chat: how far
// each projection is behind the log (Status), and rebuilding a projection from offset 0 beside the
// live one with an atomic swap (Rebuild) or into a scratch copy compared with it (Verify).
// chorusctl and the gateway's /api/v1/admin endpoints both call it.
package ops

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/notify"
	"github.com/chorus-chat/chorus/projections/readmodel"
	"github.com/chorus-chat/chorus/projections/search"
)

// Spec is a projection that can be rebuilt (one of Projections, read from the same topics): a
// generation of it is a Postgres schema holding its own copy of the projection's tables,
// written by the projection's own apply code with search_path = schema, public.
type Spec struct {
	// Name is the projection's checkpoint name.
	Name string
	// Tables are the tables the projection owns (written only by it, derived only from the log):
	// a generation has its own copy of each, and the swap exchanges them all at once. None has
	// a sequence or a foreign key, so a copy made with LIKE ... INCLUDING ALL stands alone.
	Tables []string
	// Private are statements (with %[1]s for the quoted schema) creating tables a generation
	// writes but which are never swapped in: they shadow live tables that must not be written
	// twice, and go with the generation's schema.
	Private []string
	// apply applies records into the generation in schema under its own checkpoint name.
	apply func(ctx context.Context, pool *pgxpool.Pool, schema, projection string, recs []checkpoint.Record) error
}

// Specs are the projections Rebuild and Verify know, in the order status shows them.
var Specs = []Spec{
	{
		Name: readmodel.Projection,
		// Not the accounts tables (user state), the checkpoints, nor other projections' tables.
		Tables: []string{"users", "rooms", "room_members", "room_bans", "room_invitations", "messages", "room_message_changes"},
		apply: func(ctx context.Context, pool *pgxpool.Pool, schema, projection string, recs []checkpoint.Record) error {
			return readmodel.NewStore(pool).ApplyBatchIn(ctx, schema, projection, recs)
		},
	},
	{
		Name:   search.Projection,
		Tables: []string{"search_rooms", "search_members", "search_messages"},
		apply: func(ctx context.Context, pool *pgxpool.Pool, schema, projection string, recs []checkpoint.Record) error {
			return search.NewStore(pool).ApplyBatchIn(ctx, schema, projection, recs)
		},
	},
	{
		Name: notify.Projection,
		// notification_reads is user state (what users marked read), kept by the swap: the
		// rebuilt notifications have the ids they had (a function of source event and
		// recipient) and find their read flags again.
		Tables: []string{"notifications", "notify_rooms", "notify_members"},
		// Every notification the rebuild makes was announced when the live projection first made
		// it: the generation queues them in an outbox of its own, dropped with it, and the live
		// outbox (with what the relay has not announced yet) stays where it is.
		Private: []string{`CREATE TABLE IF NOT EXISTS %[1]s.notification_outbox (seq bigserial PRIMARY KEY, notification_id uuid NOT NULL)`},
		apply: func(ctx context.Context, pool *pgxpool.Pool, schema, projection string, recs []checkpoint.Record) error {
			return notify.NewStore(pool).ApplyBatchIn(ctx, schema, projection, recs)
		},
	},
}

// SpecOf returns the spec of the projection named name, or an error that lists the known ones.
func SpecOf(name string) (*Spec, error) {
	for i := range Specs {
		if Specs[i].Name == name {
			return &Specs[i], nil
		}
	}
	return nil, fmt.Errorf("%w %q: not one of %s", ErrUnknownProjection, name, strings.Join(SpecNames(), ", "))
}

// SpecNames are the names of the rebuildable projections.
func SpecNames() []string {
	var out []string
	for _, s := range Specs {
		out = append(out, s.Name)
	}
	return out
}

// Runner runs the operations against one deployment: what the gateway's admin endpoints call.
type Runner struct {
	Deps
	// Kafka is the cluster's configuration, for the replays (which open clients of their own).
	Kafka kafka.Config
}

// Replay is ReplayTo on r's deployment. Following, it calls caughtUp (if not nil) whenever it
// has written everything committed so far, and ends when ctx does.
func (r Runner) Replay(ctx context.Context, q EventQuery, format string, follow bool, caughtUp func() error, w io.Writer) (kafka.ReplayStats, error) {
	return ReplayTo(ctx, r.Kafka, q, format, kafka.ReplayOptions{Follow: follow, OnCaughtUp: caughtUp}, w)
}

// EventStats is Stats on r's deployment.
func (r Runner) EventStats(ctx context.Context, q EventQuery) (EventStats, error) {
	st, _, err := Stats(ctx, r.Kafka, q, kafka.ReplayOptions{})
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
