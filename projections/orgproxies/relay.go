package orgproxies

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Sender sends a command and waits for its answer (commands.Dispatcher).
type Sender interface {
	Dispatch(ctx context.Context, cmd domain.Command) (commands.Reply, error)
}

const (
	// relayBatch is how many commands one relay transaction sends.
	relayBatch = 100
	// relayPoll is how often the relay looks for commands nobody signalled.
	relayPoll = time.Second
	// relayLock is the advisory lock that lets one relay at a time send, in outbox order (a
	// revocation after its grant).
	relayLock = 0x6f726770726f7879 // "orgproxy"
)

// Relay sends the outbox's commands in order. A command the principal's proxies accept is
// dropped from the outbox; one they refuse is dropped only once the refusal is recorded on the
// organization that authorized it (record_proxy_refusal, accepted), so a crash between the two
// sends the command again (the same id: a refusal is decided again, the same way unless the
// grants changed meanwhile, and an acceptance is answered as it was) and then records the
// refusal. A failure to send keeps the command and everything after it for the next attempt.
type Relay struct {
	store  *Store
	sender Sender
	logger *slog.Logger

	refused atomic.Int64
}

// NewRelay makes a relay for the commands store commits.
func NewRelay(store *Store, sender Sender, logger *slog.Logger) *Relay {
	return &Relay{store: store, sender: sender, logger: logger.With("component", "orgproxies-relay")}
}

// Refused is how many commands the principals' proxies refused since the relay started.
func (r *Relay) Refused() int64 { return r.refused.Load() }

// Run sends until ctx ends.
func (r *Relay) Run(ctx context.Context) error { return r.loop().Run(ctx) }

// Flush sends everything in the outbox (unless another relay is sending) and returns how many
// commands it settled.
func (r *Relay) Flush(ctx context.Context) (int, error) { return r.loop().Flush(ctx) }

func (r *Relay) loop() checkpoint.OutboxLoop {
	return checkpoint.OutboxLoop{Committed: r.store.Committed(), Poll: relayPoll, FlushOnce: r.flushOnce,
		Failed: func(err error) { r.logger.Warn("send proxy commands failed; retrying", "err", err) }}
}

// outboxRow is one command of the outbox and the principal whose proxies it is for.
type outboxRow struct {
	principal uuid.UUID
	raw       []byte
}

func (r *Relay) flushOnce(ctx context.Context) (int, bool, error) {
	return checkpoint.Ordered[outboxRow]{
		Pool: r.store.pool, Lock: relayLock, Limit: relayBatch,
		Select: `SELECT seq, principal_id, command FROM orgproxies_outbox ORDER BY seq LIMIT $1`,
		Delete: `DELETE FROM orgproxies_outbox WHERE seq = ANY($1)`,
		Scan: func(cr pgx.CollectableRow) (seq int64, row outboxRow, err error) {
			err = cr.Scan(&seq, &row.principal, &row.raw)
			return seq, row, err
		},
		Settle: func(ctx context.Context, row outboxRow) error { return r.settle(ctx, row.principal, row.raw) },
	}.FlushOnce(ctx)
}

// errBehind: a command could not be settled; it and those after it wait.
var errBehind = errors.New("not settled")

// settle sends one command and, if the principal's proxies refuse it, records the refusal; an
// error means it must be tried again later.
func (r *Relay) settle(ctx context.Context, principal uuid.UUID, raw []byte) error {
	var cmd domain.Command
	if err := json.Unmarshal(raw, &cmd); err != nil {
		// Written by this package: a command it cannot read back is a bug, and no retry cures it.
		r.logger.Error("undecodable proxy command dropped", "bug", true, "err", err)
		return nil
	}
	auth, grant, ok := reference(cmd)
	if !ok {
		r.logger.Error("proxy command without an authorization dropped", "bug", true, "command_id", cmd.ID)
		return nil
	}
	reply, err := r.sender.Dispatch(ctx, cmd)
	if err != nil {
		return fmt.Errorf("%w: %s for %s: %w", errBehind, cmd.Type, principal, err)
	}
	if reply.Accepted {
		return nil
	}
	r.refused.Add(1)
	r.logger.Info("a principal's proxies refused an organization's authorization; recording it", "org_id", auth.OrgID,
		"authorization_id", auth.AuthorizationID, "command", cmd.Type, "code", reply.Code, "message", reply.Message)
	rec := domain.NewCommand(domain.ProxyRefusalCommandID(auth.AuthorizationID), auth.OrgID, domain.SystemActorID, ActorName,
		cmd.IssuedAt, domain.RecordProxyRefusal{AuthorizationID: auth.AuthorizationID, PrincipalID: principal, GrantID: grant,
			Code: reply.Code, Message: reply.Message})
	ack, err := r.sender.Dispatch(ctx, rec)
	if err != nil {
		return fmt.Errorf("%w: record the refusal of %s: %w", errBehind, auth.AuthorizationID, err)
	}
	if !ack.Accepted {
		// The organization takes any refusal from the server: this is a bug, and retrying it
		// would hold every later authorization behind it.
		r.logger.Error("the organization refused to record a refusal; dropped", "bug", true, "org_id", auth.OrgID,
			"authorization_id", auth.AuthorizationID, "code", ack.Code, "message", ack.Message)
	}
	return nil
}

// reference is what a relayed command says of its authorization: the authorization and the
// grant it is about.
func reference(cmd domain.Command) (*domain.ProxyAuthorization, uuid.UUID, bool) {
	switch p := cmd.Payload.(type) {
	case domain.GrantProxy:
		return p.Authorization, domain.ProxyGrantIDFor(cmd.ID), p.Authorization != nil
	case domain.RevokeProxy:
		return p.Authorization, p.GrantID, p.Authorization != nil
	}
	return nil, uuid.Nil, false
}
