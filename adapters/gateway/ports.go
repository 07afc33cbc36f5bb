package gateway

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// Dispatcher sends a command to the command log and waits for the processor's reply.
//
// A rejection is a Reply with Accepted false, Code and Message, and a nil error. Errors are
// commands.ErrTimeout (the command may still be applied; the same command id may be retried),
// commands.ErrUnavailable (the command never reached the log) and context errors.
type Dispatcher interface {
	Dispatch(ctx context.Context, cmd domain.Command) (commands.Reply, error)
}

// ReadModel is the query side the gateway answers from. Lookups of a single row fail with
// readmodel.ErrNotFound; Room fails with readmodel.ErrRoomDeleted for a deleted room; WaitFor
// fails with readmodel.ErrNotCaughtUp when the projection does not reach pos within timeout.
type ReadModel interface {
	UserByID(ctx context.Context, id uuid.UUID) (projections.User, error)
	SearchUsers(ctx context.Context, q string, limit, offset int, byEmail bool) ([]projections.User, error)
	ListRooms(ctx context.Context, viewer uuid.UUID, q readmodel.RoomListQuery) ([]projections.Room, *readmodel.RoomCursor, error)
	Room(ctx context.Context, id uuid.UUID) (projections.Room, error)
	RoomPasswordHash(ctx context.Context, id uuid.UUID) (string, error)
	IsMember(ctx context.Context, roomID, userID uuid.UUID) (bool, error)
	IsInvited(ctx context.Context, roomID, userID uuid.UUID) (bool, error)
	IsBanned(ctx context.Context, roomID, userID uuid.UUID) (bool, error)
	Members(ctx context.Context, roomID uuid.UUID) ([]projections.Member, error)
	RoomIDsOf(ctx context.Context, userID uuid.UUID) ([]uuid.UUID, error)
	Messages(ctx context.Context, roomID uuid.UUID, q readmodel.HistoryQuery) ([]projections.Message, bool, error)
	WaitFor(ctx context.Context, pos domain.Position, timeout time.Duration) error
	// Checkpoints is a projection's next offset per topic and partition: what the read model
	// includes (readmodel.Projection), for forgetting membership changes it has caught up with.
	Checkpoints(ctx context.Context, projection string) (map[string]map[int32]int64, error)
}

// Accounts holds what must never enter the event log: password hashes and session tokens.
//
// A registration saves its hash under the command id before the command is dispatched; the
// projector moves it into the credentials when UserRegistered is projected. Credentials and
// SessionUser fail with readmodel.ErrNotFound for an unknown user or a bad or expired token.
type Accounts interface {
	SaveRegistrationAttempt(ctx context.Context, commandID, userID uuid.UUID, passwordHash string) error
	Credentials(ctx context.Context, username string) (userID uuid.UUID, passwordHash string, err error)
	CreateSession(ctx context.Context, userID uuid.UUID, ttl time.Duration) (token string, expiresAt time.Time, err error)
	SessionUser(ctx context.Context, token string) (uuid.UUID, error)
}
