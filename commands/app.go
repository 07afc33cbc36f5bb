package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// The application layer of the write side: one use case a command a client can issue, the same
// over HTTP and over a socket. A use case checks its input, makes the checks that need the read
// model (a room password against its hash, a user's existence), spends the actor's budget,
// builds the domain.Command and says how its accepted reply becomes the answer; Execute
// dispatches it. What a use case answers is a value of the contract's answer objects or an
// error (*Error, *FieldError, *domain.Error, or a failure of a port); no transport's type
// appears here, and the transports (adapters/gateway) only decode, call and encode.

// Sender sends a command to the command log and waits for the processor's reply (*Dispatcher).
//
// A rejection is a Reply with Accepted false, Code and Message, and a nil error. Errors are
// ErrTimeout (the command may still be applied; the same command id may be retried),
// ErrUnavailable (the command never reached the log) and context errors.
type Sender interface {
	Dispatch(ctx context.Context, cmd domain.Command) (Reply, error)
}

// ReadModel is what the use cases read of the query side. Lookups of a single row fail with
// projections.ErrNotFound; Room fails with projections.ErrRoomDeleted for a deleted room;
// WaitFor fails when the projection does not reach pos within timeout.
type ReadModel interface {
	UserByID(ctx context.Context, id uuid.UUID) (projections.User, error)
	Room(ctx context.Context, id uuid.UUID) (projections.Room, error)
	RoomPasswordHash(ctx context.Context, id uuid.UUID) (string, error)
	// RoomsOwnedBy counts the rooms a user owns that are not deleted (the room quota).
	RoomsOwnedBy(ctx context.Context, userID uuid.UUID) (int, error)
	WaitFor(ctx context.Context, pos domain.Position, timeout time.Duration) error
}

// Directory is what the use cases read of the organization directory (directory.Store): the
// things whose changes' events carry only what changed are read back from it at the command's
// position, so that the change answers the whole thing (orgs_readback.go). Lookups fail with
// projections.ErrNotFound; WaitFor fails when the directory does not reach pos within timeout.
type Directory interface {
	Organization(ctx context.Context, id uuid.UUID) (projections.Organization, error)
	Department(ctx context.Context, org, id uuid.UUID) (projections.Department, error)
	Positions(ctx context.Context, org uuid.UUID) ([]projections.JobPosition, error)
	Roles(ctx context.Context, org uuid.UUID) ([]projections.OrgRole, error)
	WaitFor(ctx context.Context, pos domain.Position, timeout time.Duration) error
}

// Registrations keeps what must never enter the event log: a registration's password hash is
// saved under the command id before the command is dispatched, and the projector moves it into
// the credentials when UserRegistered is projected (the accounts store).
type Registrations interface {
	SaveRegistrationAttempt(ctx context.Context, commandID, userID uuid.UUID, passwordHash string) error
}

// Passwords hashes passwords and compares them with hashes (bcrypt, on a bounded pool of
// workers: a hash that cannot start in time fails with an error the transports can show).
type Passwords interface {
	Hash(ctx context.Context, password string) (string, error)
	Matches(ctx context.Context, hash []byte, password string) (bool, error)
}

// Statuses lays the users' live presence status over views (the gateway's presence).
type Statuses interface {
	WithStatus(ctx context.Context, users ...*projections.User)
}

// Metrics counts the failures of the stores the use cases call (*metrics.Metrics).
type Metrics interface {
	RedisError(op string)
	KafkaError(component, kind string)
}

// Deps are what the application works with. Limits, Statuses and Metrics may be nil.
type Deps struct {
	Sender    Sender
	ReadModel ReadModel
	// Directory may be nil (tests without Postgres): the organization changes then answer
	// only their position.
	Directory     Directory
	Registrations Registrations
	Passwords     Passwords
	// Limits is the shared store of the per-user budgets (budgets.go). Without it the budgets
	// and the password attempt limit are off, and the room quota is held per process only.
	Limits   Limits
	Statuses Statuses
	// Proxies may be nil: commands on behalf of another user are then refused.
	Proxies Proxies
	// OrgProxies may be nil: an admin's grant or revocation for a member then answers pending
	// at once (its outcome unknown to the gateway).
	OrgProxies OrgProxies
	// ProxyLookups may be nil: an admin's grant is then not pre-checked, and an admin's
	// revocation is unavailable.
	ProxyLookups ProxyLookups
	Metrics      Metrics
	Budgets      Budgets
	// PositionWait bounds how long a use case waits for the read model to include its own
	// accepted command before it reads it back.
	PositionWait time.Duration
	Logger       *slog.Logger
}

// Application holds the use cases.
type Application struct {
	send         Sender
	rm           ReadModel
	dir          Directory
	proxies      Proxies
	orgProxies   OrgProxies
	proxyLookups ProxyLookups
	reg          Registrations
	pw           Passwords
	status       Statuses
	met          Metrics
	log          *slog.Logger
	positionWait time.Duration

	// limits is the shared store of the budgets (nil: off), and limitsState what the process
	// keeps beside it (budgets.go).
	limits  Limits
	budgets Budgets
	limitsState

	names nameCache
}

// NewApplication builds the use cases over their ports.
func NewApplication(d Deps) *Application {
	a := &Application{
		send: d.Sender, rm: d.ReadModel, dir: d.Directory, proxies: d.Proxies, orgProxies: d.OrgProxies, proxyLookups: d.ProxyLookups, reg: d.Registrations, pw: d.Passwords, status: d.Statuses,
		met: d.Metrics, log: d.Logger, positionWait: d.PositionWait,
		limits: d.Limits, budgets: d.Budgets.withDefaults(),
		names: nameCache{m: map[uuid.UUID]string{}},
	}
	if a.met == nil {
		a.met = noMetrics{}
	}
	if a.status == nil {
		a.status = noStatuses{}
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	return a
}

type noMetrics struct{}

func (noMetrics) RedisError(string)         {}
func (noMetrics) KafkaError(string, string) {}

type noStatuses struct{}

func (noStatuses) WithStatus(context.Context, ...*projections.User) {}

// Action is a command ready to dispatch, with how to read its accepted reply. A socket holds
// Command.ID from before Execute to after the answer is queued, so that the pushes the command
// causes cannot overtake its answer.
type Action struct {
	Command domain.Command
	// result builds the answer object from an accepted reply.
	result func(Reply) (any, error)
	// timeoutMsg is what a client is told when no reply came in time.
	timeoutMsg string
	// release, if set, runs once the command's answer is built (or it failed): the room quota's
	// lock on the user's creations.
	release func()
}

// Execute dispatches an action and returns its answer. Call it once for each action a use case
// returned, even when the caller gives up on it: it also frees what the action holds.
func (a *Application) Execute(ctx context.Context, act Action) (any, error) {
	if act.release != nil {
		defer act.release()
	}
	reply, err := a.dispatch(ctx, act.Command, act.timeoutMsg)
	if err != nil {
		return nil, err
	}
	return act.result(reply)
}

// Answers of commands (the same objects over HTTP and in a socket's acks: docs/protocol.md).
type (
	RoomResult struct {
		Room     projections.Room `json:"room"`
		Position string           `json:"position"`
	}
	MessageResult struct {
		Message  projections.Message `json:"message"`
		Position string              `json:"position"`
	}
	ProfileResult struct {
		User     projections.User `json:"user"`
		Position string           `json:"position"`
	}
	PositionResult struct {
		Position string `json:"position"`
	}
	// MarkReadResult has no position when the marker was already at or past seq: nothing was
	// appended, so there is nothing for a query to wait for.
	MarkReadResult struct {
		Position string `json:"position,omitempty"`
	}
)

const defaultTimeoutMsg = "no reply from the command processor in time; the command may still be applied"

// MaxIdempotencyKeyBytes bounds an idempotency key (Idempotency-Key, client_command_id).
const MaxIdempotencyKeyBytes = 128

// checkKey refuses an idempotency key that is too long to be one.
func checkKey(key string) error {
	if len(key) > MaxIdempotencyKeyBytes {
		return errValidation("the idempotency key is longer than %d bytes", MaxIdempotencyKeyBytes)
	}
	return nil
}

// commandID is the id of a new command. With the client's idempotency key it is derived from
// it, so a retry is the same command and the processor answers it with the first result
// instead of deciding it again; without one every request is a new command.
func commandID(actor uuid.UUID, commandType string, aggregateID uuid.UUID, key string) uuid.UUID {
	if key == "" {
		return uuid.New()
	}
	return domain.IdempotentCommandID(actor, commandType, aggregateID, key)
}

// timeoutMessage tells a client whose command timed out whether a retry is safe.
func timeoutMessage(key string) string {
	if key != "" {
		return defaultTimeoutMsg + "; retrying with the same idempotency key is safe"
	}
	return defaultTimeoutMsg + "; send an idempotency key (Idempotency-Key header, client_command_id field) to make a retry safe"
}

// newCommand fills the envelope: the actor's name comes from the (cached) read model.
func (a *Application) newCommand(ctx context.Context, id, aggregateID, actor uuid.UUID, p domain.CommandData) (domain.Command, error) {
	name, err := a.ActorName(ctx, actor)
	if err != nil {
		return domain.Command{}, err
	}
	return domain.NewCommand(id, aggregateID, actor, name, time.Now(), p), nil
}

// prepare builds the action of a command on aggregateID after spending the actor's budget.
func (a *Application) prepare(ctx context.Context, actor, aggregateID uuid.UUID, key string, p domain.CommandData,
	result func(Reply) (any, error)) (Action, error) {
	if err := checkKey(key); err != nil {
		return Action{}, err
	}
	if err := a.admit(ctx, actor, p.CommandType()); err != nil {
		return Action{}, err
	}
	return a.build(ctx, actor, aggregateID, key, p, result)
}

// build builds the action of a command on aggregateID: its id from the idempotency key, its
// envelope, and how its accepted reply becomes the answer. The caller has spent the budget.
func (a *Application) build(ctx context.Context, actor, aggregateID uuid.UUID, key string, p domain.CommandData,
	result func(Reply) (any, error)) (Action, error) {
	if err := checkKey(key); err != nil {
		return Action{}, err
	}
	cmd, err := a.newCommand(ctx, commandID(actor, p.CommandType(), aggregateID, key), aggregateID, actor, p)
	if err != nil {
		return Action{}, err
	}
	return Action{Command: cmd, result: result, timeoutMsg: timeoutMessage(key)}, nil
}

// positionOnly is the answer of the commands that answer {"position"}.
func positionOnly(r Reply) (any, error) { return PositionResult{Position: r.Position}, nil }

// dispatch dispatches a command and returns its reply if accepted. A rejection is a
// *domain.Error, a timeout an *Error; any other error is the dispatcher's.
func (a *Application) dispatch(ctx context.Context, cmd domain.Command, timeoutMsg string) (Reply, error) {
	if cmd.CorrelationID == "" {
		cmd.CorrelationID = CorrelationID(ctx)
	}
	reply, err := a.send.Dispatch(ctx, cmd)
	a.logDispatched(cmd, reply, err)
	switch {
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return Reply{}, &Error{Code: CodeTimeout, Message: timeoutMsg}
	case err != nil:
		return Reply{}, err
	case !reply.Accepted:
		return Reply{}, &domain.Error{Code: reply.Code, Message: reply.Message}
	}
	return reply, nil
}

// logDispatched logs a command's outcome with the ids that join it to the processor's lines.
// The command log failing to take it is a Kafka producer error of this process.
func (a *Application) logDispatched(cmd domain.Command, reply Reply, err error) {
	if errors.Is(err, ErrUnavailable) {
		a.met.KafkaError("command_log", "producer")
	}
	if err != nil {
		a.log.Warn("command not answered", "command_id", cmd.ID, "correlation_id", cmd.CorrelationID,
			"type", cmd.Type, "err", err)
		return
	}
	a.log.Debug("command answered", "command_id", cmd.ID, "correlation_id", cmd.CorrelationID,
		"type", cmd.Type, "accepted", reply.Accepted, "code", reply.Code)
}

type correlationKey struct{}

// WithCorrelation puts a correlation id (an HTTP request's X-Request-ID) in ctx, for the
// commands sent under it.
func WithCorrelation(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationID is ctx's correlation id, or a new one: a command sent over a socket has none
// in its context and gets one of its own, so that each frame's command can be followed.
func CorrelationID(ctx context.Context) string {
	if id, ok := ctx.Value(correlationKey{}).(string); ok && id != "" {
		return id
	}
	return uuid.NewString()
}

// eventData finds the event of type T among an accepted reply's events.
func eventData[T domain.EventData](r Reply) (T, error) {
	for _, e := range r.Events {
		if d, ok := e.Data.(T); ok {
			return d, nil
		}
	}
	var zero T
	return zero, fmt.Errorf("accepted reply to command %s carries no %s event", r.CommandID, zero.EventType())
}

// waitPosition waits (bounded by PositionWait) for the read model to include an accepted
// command, so that what is read next shows it. Not reaching it is logged, not failed: the
// caller lays the command's own change over what it reads.
func (a *Application) waitPosition(ctx context.Context, position string) {
	a.waitIn(ctx, a.rm, "read model", position)
}

// positionWaiter is a projection that can be waited for (the read model, the directory).
type positionWaiter interface {
	WaitFor(ctx context.Context, pos domain.Position, timeout time.Duration) error
}

// waitIn is waitPosition on projection w, named store in the log.
func (a *Application) waitIn(ctx context.Context, w positionWaiter, store, position string) {
	pos, err := domain.ParsePosition(position)
	if err != nil {
		a.log.Error("accepted reply carries a malformed position", "position", position, "err", err)
		return
	}
	if err := w.WaitFor(ctx, pos, a.positionWait); err != nil {
		a.log.Warn(store+" did not reach an accepted command's position", "position", position, "err", err)
	}
}

// ActorName is the username that travels in a command. Usernames never change, so a cache
// saves a read-model query on every command.
func (a *Application) ActorName(ctx context.Context, id uuid.UUID) (string, error) {
	if name, ok := a.names.get(id); ok {
		return name, nil
	}
	u, err := a.rm.UserByID(ctx, id)
	if errors.Is(err, projections.ErrNotFound) {
		// A session for a user the read model does not know: treat the token as bad.
		return "", &Error{Code: CodeUnauthorized, Message: "the session's user does not exist"}
	}
	if err != nil {
		return "", err
	}
	a.names.put(id, u.Username)
	return u.Username, nil
}

// RememberName caches a user's name learnt elsewhere (a login), sparing ActorName a query.
func (a *Application) RememberName(id uuid.UUID, name string) { a.names.put(id, name) }

// maxCachedNames bounds the name cache; past it the cache starts over, which costs one
// query per active user and keeps memory flat without an LRU.
const maxCachedNames = 100_000

type nameCache struct {
	mu sync.RWMutex
	m  map[uuid.UUID]string
}

func (n *nameCache) get(id uuid.UUID) (string, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	s, ok := n.m[id]
	return s, ok
}

func (n *nameCache) put(id uuid.UUID, name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.m) >= maxCachedNames {
		n.m = make(map[uuid.UUID]string)
	}
	n.m[id] = name
}
