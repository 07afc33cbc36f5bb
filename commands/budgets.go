package commands

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// Budgets bound what one user may do across all their sockets and requests on every gateway,
// kept in the shared Limits store (Redis): the gateway's per-socket and per-gateway limits
// cannot, since a user may open any number of sockets on any number of gateways. They are
// application policy: every transport's commands spend them, in the use cases. A negative rate or count turns that bound off; zero fields take
// DefaultBudgets' values.
type Budgets struct {
	// CommandRate is the commands a second one user may issue on average, CommandBurst at once.
	CommandRate  int
	CommandBurst int
	// CreateRoomRate is the rooms a minute one user may create on average, CreateRoomBurst at
	// once: a budget of its own, on top of the command budget, because a room outlives the
	// burst (a read-model row, a partition's state, a listing entry).
	CreateRoomRate  int
	CreateRoomBurst int
	// MaxRoomsPerUser is the quota of rooms a user owns (deleted ones do not count).
	MaxRoomsPerUser int
	// PasswordAttempts is the wrong room passwords one user may try on one room within
	// PasswordWindow (from the first); past it every join with a password to that room is
	// refused until the window ends.
	PasswordAttempts int
	PasswordWindow   time.Duration

	// CommandPeriod is the period of CommandRate; zero is a second. Tests make it longer, so
	// that units do not refill while they run.
	CommandPeriod time.Duration
}

// DefaultBudgets: 20 commands a second in bursts of 100 per user (as the per-gateway HTTP
// limit, now for all gateways together: more than a person's clients send), 10 rooms a minute
// in bursts of 20, at most 500 rooms owned, 5 wrong room passwords a minute per user and room.
func DefaultBudgets() Budgets {
	return Budgets{
		CommandRate: 20, CommandBurst: 100, CreateRoomRate: 10, CreateRoomBurst: 20,
		MaxRoomsPerUser: 500, PasswordAttempts: 5, PasswordWindow: time.Minute,
	}
}

func (b Budgets) withDefaults() Budgets {
	d := DefaultBudgets()
	if b.CommandRate == 0 {
		b.CommandRate = d.CommandRate
	}
	if b.CommandBurst <= 0 {
		b.CommandBurst = d.CommandBurst
	}
	if b.CreateRoomRate == 0 {
		b.CreateRoomRate = d.CreateRoomRate
	}
	if b.CreateRoomBurst <= 0 {
		b.CreateRoomBurst = d.CreateRoomBurst
	}
	if b.MaxRoomsPerUser == 0 {
		b.MaxRoomsPerUser = d.MaxRoomsPerUser
	}
	if b.PasswordAttempts == 0 {
		b.PasswordAttempts = d.PasswordAttempts
	}
	if b.PasswordWindow <= 0 {
		b.PasswordWindow = d.PasswordWindow
	}
	if b.CommandPeriod <= 0 {
		b.CommandPeriod = time.Second
	}
	return b
}

// limitsDown records that the shared limits store failed. The budgets then fail open: a user's
// commands are still accepted (bounded only by the per-socket and per-gateway limits), because
// refusing everyone's commands while Redis is out would turn a degraded limit into an outage.
// The log line is kept to one per limitsLogEvery, the metric counts every failure.
func (a *Application) limitsDown(op string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	a.met.RedisError("limits_" + op)
	now := time.Now().UnixNano()
	// Skip the store for a while once it looks gone: a client of a Redis that is down spends
	// its dial retries on every call, which would slow every command while the budgets are off
	// anyway. A lone slow call (a loaded machine) only lets its own command through: skipping
	// on it would lift the budgets for everyone for a while (measured: a 13 s room creation
	// flood got 238 rooms through instead of 22 when one stall did).
	if n := a.limitsFailures.Add(1); n >= limitsFailuresToSkip || !errors.Is(err, context.DeadlineExceeded) {
		a.limitsSkipUntil.Store(now + int64(limitsRetryAfter))
	}
	last := a.limitsLoggedAt.Load()
	if now-last < int64(limitsLogEvery) || !a.limitsLoggedAt.CompareAndSwap(last, now) {
		return
	}
	a.log.Warn("shared limits unavailable: accepting commands without the per-user budgets", "op", op, "err", err)
}

const (
	limitsLogEvery = 10 * time.Second
	// limitsRetryAfter is how long the budgets stay off after the store failed.
	limitsRetryAfter = 2 * time.Second
	// limitsFailuresToSkip: timeouts in a row that count as the store being gone.
	limitsFailuresToSkip = 3
	// limitsCallTimeout bounds one call to the store: a hung Redis must not hold commands up
	// for long, yet a loaded one (calls take well under a millisecond normally) must not count
	// as failed.
	limitsCallTimeout = time.Second
)

// limitsUp records a call to the store that succeeded.
func (a *Application) limitsUp() {
	if a.limitsFailures.Load() != 0 {
		a.limitsFailures.Store(0)
	}
}

// limitsStore is the shared store, or nil while it is off or recently failed.
func (a *Application) limitsStore() Limits {
	if a.limits == nil || time.Now().UnixNano() < a.limitsSkipUntil.Load() {
		return nil
	}
	return a.limits
}

// admit spends one unit of the actor's command budget, and for create_room one of the room
// creation budget; over either it refuses the command before anything is done for it.
func (a *Application) admit(ctx context.Context, actor uuid.UUID, commandType string) error {
	b := a.budgets
	creates := commandType == domain.CmdCreateRoom && b.CreateRoomRate > 0
	if b.CommandRate <= 0 && !creates {
		// No budget to spend: no call, and no deadline made for one (a context with a
		// deadline per command was 5% of the process's CPU at saturation).
		return nil
	}
	lim := a.limitsStore()
	if lim == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, limitsCallTimeout)
	defer cancel()
	if b.CommandRate > 0 {
		ok, wait, err := lim.Spend(ctx, "cmd:"+actor.String(), b.CommandRate, b.CommandBurst, b.CommandPeriod)
		switch {
		case err != nil:
			a.limitsDown("budget", err)
		case !ok:
			a.limitsUp()
			return errRetryLater(wait, "over your command budget (all your sockets and requests together)")
		default:
			a.limitsUp()
		}
	}
	if creates {
		ok, wait, err := lim.Spend(ctx, "create_room:"+actor.String(), b.CreateRoomRate, b.CreateRoomBurst, time.Minute)
		switch {
		case err != nil:
			a.limitsDown("budget", err)
		case !ok:
			a.limitsUp()
			return errRetryLater(wait, "over your room creation budget")
		default:
			a.limitsUp()
		}
	}
	return nil
}

// Room quota. The room aggregate cannot see a user's other rooms, so the quota is held here: a
// user's room creations are serialized (a lock per user, in this process and in the shared
// store across gateways), and each one counts the user's rooms in the read model, and
// keeps the lock until its room is in the read model (or its reply says it was refused). The
// next creation therefore counts every earlier one, however many sockets or gateways race.
// The slack: a creation whose reply timed out, or whose room the read model did not show within
// PositionWait, may be missed by the next count (one room each); with the shared store out,
// only creations on the same process are serialized.
const (
	// createLockWait bounds how long a creation waits for the user's previous one.
	createLockWait = 5 * time.Second
	// createLockTTL frees the shared lock of a gateway that died holding it; a creation holds it
	// at most a command timeout and a PositionWait.
	createLockTTL = 30 * time.Second
	lockPoll      = 20 * time.Millisecond
)

// reserveRoom takes the user's creation lock and checks the quota; release (never nil without
// an error) must run once the creation's outcome is in the read model.
func (a *Application) reserveRoom(ctx context.Context, actor, roomID uuid.UUID, key string) (release func(), err error) {
	limit := a.budgets.MaxRoomsPerUser
	if limit < 0 {
		return func() {}, nil
	}
	if key != "" {
		// A retry of a creation that succeeded is answered with its room, not refused.
		if _, err := a.rm.Room(ctx, roomID); err == nil || errors.Is(err, projections.ErrRoomDeleted) {
			return func() {}, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, createLockWait)
	defer cancel()
	unlockLocal, ok := a.createLocks.lock(ctx, actor)
	if !ok {
		return nil, a.lockWaitError(ctx)
	}
	unlockShared, err := a.sharedCreateLock(ctx, actor)
	if err != nil {
		unlockLocal()
		return nil, err
	}
	release = func() { unlockShared(); unlockLocal() }
	n, err := a.rm.RoomsOwnedBy(ctx, actor)
	if err != nil {
		release()
		return nil, err
	}
	if n >= limit {
		release()
		return nil, newError(CodeQuotaExceeded, "you own %d rooms, the most a user may own; delete one to create another", n)
	}
	return release, nil
}

// sharedCreateLock takes the user's creation lock in the shared store, waiting for it as long
// as ctx allows. Without the store (or with it failing) it holds nothing: the local lock alone
// then serializes the user's creations in this process.
func (a *Application) sharedCreateLock(ctx context.Context, actor uuid.UUID) (func(), error) {
	lim := a.limitsStore()
	if lim == nil {
		return func() {}, nil
	}
	t := time.NewTicker(lockPoll)
	defer t.Stop()
	for {
		callCtx, cancel := context.WithTimeout(ctx, limitsCallTimeout)
		unlock, ok, err := lim.TryLock(callCtx, "create_room:"+actor.String(), createLockTTL)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, a.lockWaitError(ctx)
			}
			a.limitsDown("lock", err)
			return func() {}, nil
		}
		a.limitsUp()
		if ok {
			return unlock, nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, a.lockWaitError(ctx)
		}
	}
}

// lockWaitError: the caller went away, or the user's previous creation held the lock too long.
func (a *Application) lockWaitError(ctx context.Context) error {
	if errors.Is(context.Cause(ctx), context.Canceled) {
		return context.Canceled
	}
	return errRetryLater(time.Second, "another room creation of yours is still in progress")
}

// userLocks are per-user mutexes that can be waited for with a deadline.
type userLocks struct {
	mu sync.Mutex
	m  map[uuid.UUID]chan struct{}
}

// lock takes user's lock, waiting for it until ctx ends (then ok is false).
func (l *userLocks) lock(ctx context.Context, user uuid.UUID) (unlock func(), ok bool) {
	for {
		l.mu.Lock()
		if l.m == nil {
			l.m = map[uuid.UUID]chan struct{}{}
		}
		held, busy := l.m[user]
		if !busy {
			ch := make(chan struct{})
			l.m[user] = ch
			l.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					l.mu.Lock()
					delete(l.m, user)
					l.mu.Unlock()
					close(ch)
				})
			}, true
		}
		l.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// Wrong room passwords are counted per user and room in the shared store, before the bcrypt
// compare (so that concurrent guesses cannot all pass the check) and taken back when the
// password was right.
func attemptsName(actor, roomID uuid.UUID) string {
	return "room_password:" + actor.String() + ":" + roomID.String()
}

// countPasswordAttempt counts a join's password attempt; over the limit it refuses it.
// forget takes the attempt back (call it when the password was right).
func (a *Application) countPasswordAttempt(ctx context.Context, actor, roomID uuid.UUID) (forget func(), err error) {
	b := a.budgets
	lim := a.limitsStore()
	if lim == nil || b.PasswordAttempts < 0 {
		return func() {}, nil
	}
	name := attemptsName(actor, roomID)
	callCtx, cancel := context.WithTimeout(ctx, limitsCallTimeout)
	defer cancel()
	n, left, err := lim.CountAttempt(callCtx, name, b.PasswordWindow)
	if err != nil {
		a.limitsDown("attempts", err)
		return func() {}, nil
	}
	a.limitsUp()
	forget = func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limitsCallTimeout)
		defer cancel()
		if err := lim.UncountAttempt(ctx, name); err != nil {
			a.limitsDown("attempts", err)
		}
	}
	if n > int64(b.PasswordAttempts) {
		return nil, errRetryLater(left, "too many wrong passwords for this room")
	}
	return forget, nil
}

// limitsState is what the application keeps beside the shared store: when limitsDown last logged
// and until when the store is skipped (unix ns), its failures in a row, and the local per-user
// creation locks.
type limitsState struct {
	limitsLoggedAt  atomic.Int64
	limitsSkipUntil atomic.Int64
	limitsFailures  atomic.Int64 // calls failed in a row
	createLocks     userLocks
}

// Limits is the store every gateway shares the per-user bounds through (Redis): command
// budgets, counters of wrong room passwords and the lock that serializes a user's room
// creations. Names are the application's; the store namespaces them.
type Limits interface {
	// Spend takes one unit from a GCRA budget of rate units per period in bursts of burst; when
	// there is none it changes nothing and says how long until there is one.
	Spend(ctx context.Context, name string, rate, burst int, period time.Duration) (ok bool, retryAfter time.Duration, err error)
	// CountAttempt counts an attempt in a fixed window that starts at the first one, and returns
	// the attempts in the window (this one included) and the time left in it.
	CountAttempt(ctx context.Context, name string, window time.Duration) (n int64, left time.Duration, err error)
	// UncountAttempt takes back one attempt of the current window.
	UncountAttempt(ctx context.Context, name string) error
	// TryLock takes a lock for at most ttl if it is free; release frees it.
	TryLock(ctx context.Context, name string, ttl time.Duration) (release func(), ok bool, err error)
}
