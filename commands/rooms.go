package commands

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// CreateRoom is the input of create_room; Name is required (a transport whose absent name means
// an empty one passes a pointer to "").
type CreateRoom struct {
	Name        *string
	Description string
	IsPrivate   bool
	Password    string
	Key         string
}

// Check finds what is missing in the input.
func (in CreateRoom) Check() error {
	if in.Name == nil {
		return Required("name")
	}
	return nil
}

// CreateRoom creates a room owned by the actor, within the actor's room creation budget and
// room quota. Its answer is a RoomResult.
func (a *Application) CreateRoom(ctx context.Context, actor uuid.UUID, in CreateRoom) (act Action, err error) {
	if err := in.Check(); err != nil {
		return Action{}, err
	}
	if err := checkKey(in.Key); err != nil {
		return Action{}, err
	}
	p := domain.CreateRoom{Name: *in.Name, Description: in.Description, IsPrivate: in.IsPrivate}
	if in.Password != "" {
		// Checked here as well as by the domain so that a doomed request costs no bcrypt hash.
		if !in.IsPrivate {
			return Action{}, errValidation("only a private room can have a password")
		}
		if len(in.Password) > MaxPasswordBytes {
			return Action{}, errValidation("password is longer than %d bytes", MaxPasswordBytes)
		}
	}
	// Spent before the bcrypt hash and the quota's lock, which a refused command must not cost.
	if err := a.admit(ctx, actor, domain.CmdCreateRoom); err != nil {
		return Action{}, err
	}
	// A new room gets a new id; with an idempotency key the id is derived from it, so that a
	// retry addresses the same room aggregate and is answered with the room it created. (The
	// retry's password hash differs by its salt, but the remembered first answer is returned.)
	roomID := uuid.New()
	if in.Key != "" {
		roomID = domain.RoomIDForKey(actor, in.Key)
	}
	release, err := a.reserveRoom(ctx, actor, roomID, in.Key)
	if err != nil {
		return Action{}, err
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	if in.Password != "" {
		hash, err := a.pw.Hash(ctx, in.Password)
		if err != nil {
			return Action{}, err
		}
		// Only the slow salted hash enters the command (and so the log), never the password.
		p.PasswordHash = hash
	}
	act, err = a.build(ctx, actor, roomID, in.Key, p, func(r Reply) (any, error) {
		d, err := eventData[domain.RoomCreated](r)
		if err != nil {
			return nil, err
		}
		// The quota's next count must see this room: hold the lock until the read model has it.
		if a.budgets.MaxRoomsPerUser >= 0 {
			a.waitPosition(ctx, r.Position)
		}
		return RoomResult{Room: projections.RoomOf(d), Position: r.Position}, nil
	})
	act.release = release
	return act, err
}

// JoinRoom joins a room, with its password if it has one. Its answer is a PositionResult.
func (a *Application) JoinRoom(ctx context.Context, actor, roomID uuid.UUID, password, key string) (Action, error) {
	if err := checkKey(key); err != nil {
		return Action{}, err
	}
	if err := a.admit(ctx, actor, domain.CmdJoinRoom); err != nil {
		return Action{}, err
	}
	join, err := a.joinCommand(ctx, actor, roomID, password)
	if err != nil {
		return Action{}, err
	}
	return a.build(ctx, actor, roomID, key, join, positionOnly)
}

// joinCommand builds a join. A password is checked here, against the room's bcrypt hash in the
// read model, so that the slow hash never runs on the command processor's single-writer path
// and the clear password never enters the command log: the command carries the hash the
// password matched, and the room aggregate accepts it only if that is still the room's hash.
// A wrong password sends no hash, and the aggregate answers wrong_password. Guesses are
// limited per user and room (countPasswordAttempt) before any hash is compared.
func (a *Application) joinCommand(ctx context.Context, actor, roomID uuid.UUID, password string) (domain.JoinRoom, error) {
	if password == "" {
		return domain.JoinRoom{}, nil
	}
	hash, err := a.rm.RoomPasswordHash(ctx, roomID)
	if errors.Is(err, projections.ErrNotFound) || hash == "" {
		return domain.JoinRoom{}, nil // the aggregate tells: room_not_found, or a room without password
	}
	if err != nil {
		return domain.JoinRoom{}, err
	}
	forget, err := a.countPasswordAttempt(ctx, actor, roomID)
	if err != nil {
		return domain.JoinRoom{}, err
	}
	ok, err := a.pw.Matches(ctx, []byte(hash), password)
	if err != nil {
		forget() // not compared: not a guess
		return domain.JoinRoom{}, err
	}
	if !ok {
		return domain.JoinRoom{}, nil
	}
	forget()
	return domain.JoinRoom{PasswordHash: hash}, nil
}

// LeaveRoom leaves a room. Its answer is a PositionResult.
func (a *Application) LeaveRoom(ctx context.Context, actor, roomID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, roomID, key, domain.LeaveRoom{}, positionOnly)
}

// DeleteRoom deletes a room: its owner only. Its answer is a PositionResult.
func (a *Application) DeleteRoom(ctx context.Context, actor, roomID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, roomID, key, domain.DeleteRoom{}, positionOnly)
}

// UpdateRoom is the input of update_room: an absent field is left as it is.
type UpdateRoom struct {
	RoomID            uuid.UUID
	Name, Description *string
	Key               string
}

// UpdateRoom changes a room's name or description: its owner or an admin. RoomUpdated repeats
// the room as it stands after the change, so the answer (a RoomResult) needs no read; an event
// without it (written before it existed, so only a retry of a very old command) falls back to
// reading the room at the command's position.
func (a *Application) UpdateRoom(ctx context.Context, actor uuid.UUID, in UpdateRoom) (Action, error) {
	p := domain.UpdateRoom{Name: in.Name, Description: in.Description}
	return a.prepare(ctx, actor, in.RoomID, in.Key, p, func(r Reply) (any, error) {
		d, err := eventData[domain.RoomUpdated](r)
		if err != nil {
			return nil, err
		}
		if d.Room != nil {
			return RoomResult{Room: projections.RoomOfUpdate(d), Position: r.Position}, nil
		}
		a.waitPosition(ctx, r.Position)
		room, err := a.rm.Room(ctx, in.RoomID)
		if err != nil {
			// Accepted, but not readable (deleted meanwhile, say): an error the client can
			// retry is honest, and the retry is harmless (the same update again, or the first
			// answer under an idempotency key).
			a.log.Warn("update room: cannot read the room back", "room_id", in.RoomID, "err", err)
			return nil, &Error{Code: CodeNotCaughtUp, Message: "the room was updated but cannot be read back; GET it with ?position=" + r.Position}
		}
		if d.Name != nil {
			room.Name = *d.Name
		}
		if d.Description != nil {
			room.Description = *d.Description
		}
		room.UpdatedAt = d.UpdatedAt.UTC()
		return RoomResult{Room: room, Position: r.Position}, nil
	})
}
