package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// RecordPresence records a presence transition of user (online time: domain/user_presence.go)
// as the server, under the command id of the transition, so that a retry after a timeout or a
// failed append is the same command and appends nothing twice. conn is the socket that made the
// transition (for an expired entry, the socket whose entry expired).
func (a *Application) RecordPresence(ctx context.Context, user uuid.UUID, conn string, p domain.RecordPresence) error {
	id := domain.PresenceCommandID(user, conn, p.Online, p.At)
	cmd := domain.NewCommand(id, user, domain.SystemActorID, "", time.Now(), p)
	_, err := a.dispatch(ctx, cmd, "the presence transition was not recorded in time")
	return err
}
