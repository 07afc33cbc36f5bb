package domain

import (
	"time"

	"github.com/google/uuid"
)

// Online time: a user's sessions (from their first live socket on any gateway to the end of
// their last) are facts of the user aggregate, so that reports survive Redis and are rebuilt
// from the log like every read model. Redis presence (adapters/redis) finds the transitions
// across gateways; the gateway that makes one sends record_presence for it.

// Presence command and event types.
const (
	CmdRecordPresence   = "record_presence"
	TypeUserCameOnline  = "UserCameOnline"
	TypeUserWentOffline = "UserWentOffline"
)

// Why a session ended (UserWentOffline.Cause).
const (
	OfflineLeft       = "left"       // the user's last socket closed
	OfflineExpired    = "expired"    // their last entry expired: the gateway died; at = its last refresh
	OfflineSuperseded = "superseded" // a new session began while this one was still open
	// OfflineReconciled: nothing in Redis knew the user any more (their gateway died and Redis
	// lost its entries), and a gateway's reconciler ended the session at the user's last
	// activity its gateways had written to Postgres; the offline names the session (Since).
	OfflineReconciled = "reconciled"
)

// presenceClockSkew is how far ahead of the processor's clock a transition may be dated: the
// gateways' clocks are not the processor's.
const presenceClockSkew = time.Minute

// RecordPresence reports a presence transition of the user it is sent to: Online at the first
// live socket anywhere, or offline at the end of the last one (Cause left or expired), or the
// end of the session that started at Since, found left open (Cause reconciled; Since is given
// with that cause only). Only the server sends it (actor SystemActorID), with the id
// PresenceCommandID, so a retry is the same command.
type RecordPresence struct {
	Online bool       `json:"online"`
	At     time.Time  `json:"at"`
	Cause  string     `json:"cause,omitempty"`
	Since  *time.Time `json:"since,omitempty"`
}

// UserCameOnline opens a session at At.
type UserCameOnline struct {
	UserID uuid.UUID `json:"user_id"`
	At     time.Time `json:"at"`
}

// UserWentOffline ends the session opened at Since, at At (never before Since).
type UserWentOffline struct {
	UserID uuid.UUID `json:"user_id"`
	Since  time.Time `json:"since"`
	At     time.Time `json:"at"`
	Cause  string    `json:"cause"`
}

func (RecordPresence) CommandType() string     { return CmdRecordPresence }
func (UserCameOnline) EventType() string       { return TypeUserCameOnline }
func (UserWentOffline) EventType() string      { return TypeUserWentOffline }
func (u *User) OnlineSince() (time.Time, bool) { return u.onlineSince, !u.onlineSince.IsZero() }

// namespacePresence derives the ids of record_presence commands.
var namespacePresence = uuid.MustParse("3c9d7f1e-6a28-4b5c-9e0d-1f7a3b5c8d77")

// PresenceCommandID is the id of the record_presence of one transition: the user, the socket
// that made it (its connection id), the direction and the time. A retried send is the same
// command and appends nothing twice.
func PresenceCommandID(user uuid.UUID, conn string, online bool, at time.Time) uuid.UUID {
	b := make([]byte, 0, 16+len(conn)+1+1+20)
	b = append(b, user[:]...)
	b = append(b, conn...)
	b = append(b, 0) // connection ids hold no NUL
	if online {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = at.UTC().AppendFormat(b, time.RFC3339Nano)
	return uuid.NewSHA1(namespacePresence, b)
}

// recordPresence decides a transition. The transitions come from several gateways, each through
// its own queue, so they may arrive late or out of order; the rules keep one session open at a
// time and never count an instant twice:
//   - online while offline opens a session at At;
//   - online while a session is open (its offline was lost: Redis forgot the user, or a queue
//     overflowed) ends that session at At (superseded) and opens a new one, unless At is not
//     after the open session's start (a late duplicate), which is accepted without events;
//   - offline while a session is open ends it at At, or is accepted without events when At is
//     before the session's start (the offline of an earlier session, arriving after it was
//     superseded);
//   - offline while offline is accepted without events;
//   - a reconciled offline ends the open session only if it is the one it names (Since), at At
//     or at its start if At is before it; otherwise (it ended already, or another one is open)
//     it is accepted without events. So a reconciler ends a session once, however many send it,
//     and never a session it did not see.
func (u *User) recordPresence(cmd Command, p RecordPresence, now time.Time) ([]Event, error) {
	if cmd.ActorID != SystemActorID {
		return nil, reject(CodeForbidden, "only the server records presence")
	}
	if !u.registered {
		return nil, reject(CodeUserNotFound, "user %s does not exist", cmd.AggregateID)
	}
	if p.Online && p.Since != nil {
		return nil, reject(CodeValidationFailed, "since is given only with cause %q", OfflineReconciled)
	}
	if p.At.IsZero() || p.At.After(now.Add(presenceClockSkew)) {
		return nil, reject(CodeValidationFailed, "at must be a time not after now")
	}
	at := p.At.UTC()
	since, online := u.OnlineSince()
	if p.Online {
		if !online {
			return eventsOf(cmd, u.version, now, UserCameOnline{UserID: u.id, At: at}), nil
		}
		if !at.After(since) {
			return []Event{}, nil
		}
		return eventsOf(cmd, u.version, now,
			UserWentOffline{UserID: u.id, Since: since, At: at, Cause: OfflineSuperseded},
			UserCameOnline{UserID: u.id, At: at}), nil
	}
	switch {
	case p.Cause == OfflineReconciled:
		if p.Since == nil || p.Since.IsZero() {
			return nil, reject(CodeValidationFailed, "a reconciled offline must name its session's start (since)")
		}
		if !online || !sameInstant(*p.Since, since) {
			return []Event{}, nil
		}
		return eventsOf(cmd, u.version, now, UserWentOffline{UserID: u.id, Since: since, At: latest(at, since), Cause: p.Cause}), nil
	case p.Cause != OfflineLeft && p.Cause != OfflineExpired:
		return nil, reject(CodeValidationFailed, "cause must be %q, %q or %q", OfflineLeft, OfflineExpired, OfflineReconciled)
	case p.Since != nil:
		return nil, reject(CodeValidationFailed, "since is given only with cause %q", OfflineReconciled)
	}
	if !online || at.Before(since) {
		return []Event{}, nil
	}
	return eventsOf(cmd, u.version, now, UserWentOffline{UserID: u.id, Since: since, At: at, Cause: p.Cause}), nil
}

// sameInstant tells whether a session's start read back from a store (Postgres keeps
// microseconds) is the start the aggregate holds.
func sameInstant(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -time.Microsecond && d < time.Microsecond
}

func latest(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}
