package orgrooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Sender sends a command and waits for its answer (commands.Dispatcher).
type Sender interface {
	Dispatch(ctx context.Context, cmd domain.Command) (commands.Reply, error)
}

// relayBatch is how many commands one relay transaction sends.
const relayBatch = 200

// relayPoll is how often the relay looks for commands nobody signalled: another process's
// leftovers, or commands whose sending failed.
const relayPoll = time.Second

// relayLock is the Postgres advisory lock that lets one relay at a time send: the commands of
// one room must reach it in the order they were decided (a sync before the create of its room
// would be refused), and a single sender in outbox order keeps that order across processes.
const relayLock = 0x6f7267726f6f6d73 // "orgrooms"

// Relay sends the outbox's commands in order and drops each one its room answered, accepted or
// refused. A refusal is no reason to stop: the organization's event was accepted and stays
// applied, the room said why it cannot follow (say, a department room deleted by hand), and
// holding every later command of every organization behind it would let one room stop them
// all. It is logged at ERROR and counted (Refused); a failure to send (timeout, the log
// unavailable) keeps the command and everything after it for the next attempt.
type Relay struct {
	store  *Store
	sender Sender
	logger *slog.Logger

	refused atomic.Int64
}

// NewRelay makes a relay for the commands store commits.
func NewRelay(store *Store, sender Sender, logger *slog.Logger) *Relay {
	return &Relay{store: store, sender: sender, logger: logger.With("component", "orgrooms-relay")}
}

// Refused is how many commands the rooms refused since the relay started.
func (r *Relay) Refused() int64 { return r.refused.Load() }

// Run sends until ctx ends: after every batch the store commits with commands, and every second.
func (r *Relay) Run(ctx context.Context) error { return r.loop().Run(ctx) }

// Flush sends everything in the outbox (unless another relay is sending) and returns how many
// commands it sent.
func (r *Relay) Flush(ctx context.Context) (int, error) { return r.loop().Flush(ctx) }

func (r *Relay) loop() checkpoint.OutboxLoop {
	return checkpoint.OutboxLoop{Committed: r.store.Committed(), Poll: relayPoll, FlushOnce: r.flushOnce,
		Failed: func(err error) { r.logger.Warn("send department room commands failed; retrying", "err", err) }}
}

// errBehind: a command could not be sent; it and those after it wait.
var errBehind = errors.New("not sent")

func (r *Relay) flushOnce(ctx context.Context) (int, bool, error) {
	return checkpoint.Ordered[[]byte]{
		Pool: r.store.pool, Lock: relayLock, Limit: relayBatch,
		Select: `SELECT seq, command FROM orgrooms_outbox ORDER BY seq LIMIT $1`,
		Delete: `DELETE FROM orgrooms_outbox WHERE seq = ANY($1)`,
		Scan: func(cr pgx.CollectableRow) (seq int64, raw []byte, err error) {
			err = cr.Scan(&seq, &raw)
			return seq, raw, err
		},
		Settle: r.send,
	}.FlushOnce(ctx)
}

// send sends one command; an error means it was not answered (try again later).
func (r *Relay) send(ctx context.Context, raw []byte) error {
	var cmd domain.Command
	if err := json.Unmarshal(raw, &cmd); err != nil {
		// Written by this package: a command it cannot read back is a bug, and no retry cures it.
		r.refused.Add(1)
		r.logger.Error("undecodable department room command dropped", "bug", true, "err", err)
		return nil
	}
	reply, err := r.sender.Dispatch(ctx, cmd)
	if err != nil {
		return fmt.Errorf("%w: %s to room %s: %w", errBehind, cmd.Type, cmd.AggregateID, err)
	}
	if !reply.Accepted {
		r.refused.Add(1)
		r.logger.Error("a department room refused the manager's command; going on", "room", cmd.AggregateID,
			"command", cmd.Type, "command_id", cmd.ID, "code", reply.Code, "message", reply.Message)
	}
	return nil
}
