package gateway

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/queries"
)

// ReadModel is the query side the gateway answers from: what the commands' use cases check
// (commands.ReadModel), what the queries read (queries.ReadModel), and the read model's
// checkpoints. Lookups of a single row fail with readmodel.ErrNotFound; Room fails with
// readmodel.ErrRoomDeleted for a deleted room; WaitFor fails with readmodel.ErrNotCaughtUp when
// the projection does not reach pos within timeout.
type ReadModel interface {
	commands.ReadModel
	queries.ReadModel
	// Checkpoints is a projection's next offset per topic and partition: what the read model
	// includes (readmodel.Projection), for forgetting membership changes it has caught up with.
	Checkpoints(ctx context.Context, projection string) (map[string]map[int32]int64, error)
}

// Directory is the organization directory (directory.Store): what the organizations' reads
// read (queries.Directory) and what the organization changes read back (commands.Directory).
type Directory interface {
	queries.Directory
	commands.Directory
}

// Accounts holds what must never enter the event log: password hashes and session tokens.
//
// A registration saves its hash under the command id before the command is dispatched; the
// projector moves it into the credentials when UserRegistered is projected. Credentials,
// Session, RevokeSession and RefreshSession fail with readmodel.ErrNotFound for an unknown user
// or a bad, expired or revoked token.
//
// RefreshSession starts a new session lasting ttl and cuts the old one to end within grace; it
// returns the old one's new end. ForgetSession drops a session from the process's cache (another
// gateway ended it); hash is the token's SHA-256, as the gateways name sessions to each other.
type Accounts interface {
	SaveRegistrationAttempt(ctx context.Context, commandID, userID uuid.UUID, passwordHash string) error
	Credentials(ctx context.Context, username string) (userID uuid.UUID, passwordHash string, err error)
	CreateSession(ctx context.Context, userID uuid.UUID, ttl time.Duration) (token string, expiresAt time.Time, err error)
	Session(ctx context.Context, token string) (userID uuid.UUID, expiresAt time.Time, err error)
	RevokeSession(ctx context.Context, token string) (uuid.UUID, error)
	RefreshSession(ctx context.Context, token string, ttl, grace time.Duration) (newToken string, expiresAt, oldExpiresAt time.Time, err error)
	ForgetSession(hash [sha256.Size]byte)
	// SessionEnds asks the store (never a cache) when the sessions named by hashes end; unknown,
	// expired and revoked ones are absent from the answer.
	SessionEnds(ctx context.Context, hashes [][sha256.Size]byte) (map[[sha256.Size]byte]time.Time, error)
}

// SessionBus tells every gateway, this one included, that a session ends early (a logout or a
// refresh), so that each drops it from its token cache and closes the sockets opened with it.
// The gateway's EndSession is what each gateway runs on hearing it.
type SessionBus interface {
	EndSession(ctx context.Context, user uuid.UUID, tokenHash [sha256.Size]byte, endsAt time.Time) error
}

// PushFeed is the reading side of routed pushes (adapters/redis Feed): which streams this
// gateway reads follows its sockets. Read makes sure that the pushes for rooms and users
// appended from now on reach Deliver; release once the socket is subscribed or registered.
// MembershipPositions are the log positions of a user's newest joins and leaves that this
// gateway may not have seen, for a new socket to wait for (membership.go).
type PushFeed interface {
	Read(ctx context.Context, rooms, users []uuid.UUID) (release func(), err error)
	MembershipPositions(ctx context.Context, user uuid.UUID) ([]domain.Position, error)
}
