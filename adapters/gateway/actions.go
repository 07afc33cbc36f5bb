package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// The commands a client can issue are the same over HTTP and over a socket, and so are their
// answers (the contract makes an ack's result the HTTP call's body). This file holds what both
// transports share: turning input into a command, dispatching it and reading the reply.

// action is a command ready to dispatch, with how to read its accepted reply.
type action struct {
	cmd domain.Command
	// status is the HTTP status of success.
	status int
	// result builds the answer object from an accepted reply.
	result func(commands.Reply) (any, error)
	// timeoutMsg is what a client is told when no reply came in time.
	timeoutMsg string
	// release, if set, runs once the command's answer is built (or it failed): the room quota's
	// lock on the user's creations.
	release func()
}

// Answers of commands (the same objects over HTTP and in acks).
type (
	roomResult struct {
		Room     projections.Room `json:"room"`
		Position string           `json:"position"`
	}
	messageResult struct {
		Message  projections.Message `json:"message"`
		Position string              `json:"position"`
	}
	profileResult struct {
		User     projections.User `json:"user"`
		Position string           `json:"position"`
	}
	positionResult struct {
		Position string `json:"position"`
	}
	// markReadResult has no position when the marker was already at or past seq: nothing was
	// appended, so there is nothing for a query to wait for.
	markReadResult struct {
		Position string `json:"position,omitempty"`
	}
)

const defaultTimeoutMsg = "no reply from the command processor in time; the command may still be applied"

// maxClientMsgIDBytes bounds client_msg_id, which is stored with the message.
const maxClientMsgIDBytes = 128

// maxIdempotencyKeyBytes bounds an idempotency key (Idempotency-Key, client_command_id).
const maxIdempotencyKeyBytes = 128

// sendInput is a send_message as either transport parsed it.
type sendInput struct {
	RoomID      uuid.UUID
	Content     string
	MessageType string
	ReplyTo     *uuid.UUID
	ClientMsgID string
	Key         string
}

// createRoomInput is a create_room as either transport parsed it.
type createRoomInput struct {
	Name        string
	Description string
	IsPrivate   bool
	Password    string
	Key         string
}

// newCommand fills the envelope: the actor's name comes from the (cached) read model.
func (g *Gateway) newCommand(ctx context.Context, id, aggregateID, actor uuid.UUID, p domain.CommandData) (domain.Command, error) {
	name, err := g.actorName(ctx, actor)
	if err != nil {
		return domain.Command{}, err
	}
	return domain.NewCommand(id, aggregateID, actor, name, time.Now(), p), nil
}

// checkKey refuses an idempotency key that is too long to be one.
func checkKey(key string) error {
	if len(key) > maxIdempotencyKeyBytes {
		return errValidation("the idempotency key is longer than %d bytes", maxIdempotencyKeyBytes)
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

// prepare builds the action of a command on aggregateID after spending the actor's budget.
func (g *Gateway) prepare(ctx context.Context, actor, aggregateID uuid.UUID, key string, p domain.CommandData,
	status int, result func(commands.Reply) (any, error)) (action, error) {
	if err := checkKey(key); err != nil {
		return action{}, err
	}
	if err := g.admit(ctx, actor, p.CommandType()); err != nil {
		return action{}, err
	}
	return g.build(ctx, actor, aggregateID, key, p, status, result)
}

// build builds the action of a command on aggregateID: its id from the idempotency key, its
// envelope, and how its accepted reply becomes the answer. The caller has spent the budget.
func (g *Gateway) build(ctx context.Context, actor, aggregateID uuid.UUID, key string, p domain.CommandData,
	status int, result func(commands.Reply) (any, error)) (action, error) {
	if err := checkKey(key); err != nil {
		return action{}, err
	}
	cmd, err := g.newCommand(ctx, commandID(actor, p.CommandType(), aggregateID, key), aggregateID, actor, p)
	if err != nil {
		return action{}, err
	}
	return action{cmd: cmd, status: status, result: result, timeoutMsg: timeoutMessage(key)}, nil
}

// positionOnly is the answer of the commands that answer {"position"}.
func positionOnly(r commands.Reply) (any, error) { return positionResult{Position: r.Position}, nil }

func (g *Gateway) prepareSend(ctx context.Context, actor uuid.UUID, in sendInput) (action, error) {
	if len(in.ClientMsgID) > maxClientMsgIDBytes {
		return action{}, errValidation("client_msg_id is longer than %d bytes", maxClientMsgIDBytes)
	}
	if err := checkKey(in.Key); err != nil {
		return action{}, err
	}
	if err := g.admit(ctx, actor, domain.CmdSendMessage); err != nil {
		return action{}, err
	}
	// With a client_msg_id the command id is derived from it, so a retry is the same command
	// and the processor answers it with the original message instead of appending another.
	// The contract's client_msg_id wins over a generic idempotency key.
	id := commandID(actor, domain.CmdSendMessage, in.RoomID, in.Key)
	if in.ClientMsgID != "" {
		id = domain.SendCommandID(in.RoomID, actor, in.ClientMsgID)
	}
	cmd, err := g.newCommand(ctx, id, in.RoomID, actor, domain.SendMessage{
		Content: in.Content, MessageType: in.MessageType, ReplyToMessageID: in.ReplyTo, ClientMsgID: in.ClientMsgID,
	})
	if err != nil {
		return action{}, err
	}
	timeoutMsg := defaultTimeoutMsg + "; a retry may post it twice (send a client_msg_id to make retries safe)"
	switch {
	case in.ClientMsgID != "":
		timeoutMsg = defaultTimeoutMsg + "; retrying with the same client_msg_id is safe"
	case in.Key != "":
		timeoutMsg = timeoutMessage(in.Key)
	}
	return action{
		cmd: cmd, status: http.StatusCreated, timeoutMsg: timeoutMsg,
		result: func(r commands.Reply) (any, error) {
			d, err := eventData[domain.MessageSent](r)
			if err != nil {
				return nil, err
			}
			return messageResult{Message: projections.MessageOf(d.Message), Position: r.Position}, nil
		},
	}, nil
}

func (g *Gateway) prepareCreateRoom(ctx context.Context, actor uuid.UUID, in createRoomInput) (a action, err error) {
	if err := checkKey(in.Key); err != nil {
		return action{}, err
	}
	p := domain.CreateRoom{Name: in.Name, Description: in.Description, IsPrivate: in.IsPrivate}
	if in.Password != "" {
		// Checked here as well as by the domain so that a doomed request costs no bcrypt hash.
		if !in.IsPrivate {
			return action{}, errValidation("only a private room can have a password")
		}
		if len(in.Password) > maxPasswordBytes {
			return action{}, errValidation("password is longer than %d bytes", maxPasswordBytes)
		}
	}
	// Spent before the bcrypt hash and the quota's lock, which a refused command must not cost.
	if err := g.admit(ctx, actor, domain.CmdCreateRoom); err != nil {
		return action{}, err
	}
	// A new room gets a new id; with an idempotency key the id is derived from it, so that a
	// retry addresses the same room aggregate and is answered with the room it created. (The
	// retry's password hash differs by its salt, but the remembered first answer is returned.)
	roomID := uuid.New()
	if in.Key != "" {
		roomID = domain.RoomIDForKey(actor, in.Key)
	}
	release, err := g.reserveRoom(ctx, actor, roomID, in.Key)
	if err != nil {
		return action{}, err
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	if in.Password != "" {
		hash, err := g.hash(ctx, in.Password)
		if err != nil {
			return action{}, err
		}
		// Only the slow salted hash enters the command (and so the log), never the password.
		p.PasswordHash = hash
	}
	a, err = g.build(ctx, actor, roomID, in.Key, p, http.StatusCreated, func(r commands.Reply) (any, error) {
		d, err := eventData[domain.RoomCreated](r)
		if err != nil {
			return nil, err
		}
		// The quota's next count must see this room: hold the lock until the read model has it.
		if g.cfg.Budgets.MaxRoomsPerUser >= 0 {
			g.waitPosition(ctx, r.Position)
		}
		return roomResult{Room: projections.RoomOf(d), Position: r.Position}, nil
	})
	a.release = release
	return a, err
}

// joinCommand builds a join. A password is checked here, against the room's bcrypt hash in the
// read model, so that the slow hash never runs on the command processor's single-writer path
// and the clear password never enters the command log: the command carries the hash the
// password matched, and the room aggregate accepts it only if that is still the room's hash.
// A wrong password sends no hash, and the aggregate answers wrong_password. Guesses are
// limited per user and room (countPasswordAttempt) before any hash is compared.
func (g *Gateway) joinCommand(ctx context.Context, actor, roomID uuid.UUID, password string) (domain.JoinRoom, error) {
	if password == "" {
		return domain.JoinRoom{}, nil
	}
	hash, err := g.rm.RoomPasswordHash(ctx, roomID)
	if errors.Is(err, readmodel.ErrNotFound) || hash == "" {
		return domain.JoinRoom{}, nil // the aggregate tells: room_not_found, or a room without password
	}
	if err != nil {
		return domain.JoinRoom{}, err
	}
	forget, err := g.countPasswordAttempt(ctx, actor, roomID)
	if err != nil {
		return domain.JoinRoom{}, err
	}
	ok, err := g.passwordMatches(ctx, []byte(hash), password)
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

// prepareJoin builds join_room; a password is checked by joinCommand, after the budget is spent.
func (g *Gateway) prepareJoin(ctx context.Context, actor, roomID uuid.UUID, password, key string) (action, error) {
	if err := checkKey(key); err != nil {
		return action{}, err
	}
	if err := g.admit(ctx, actor, domain.CmdJoinRoom); err != nil {
		return action{}, err
	}
	join, err := g.joinCommand(ctx, actor, roomID, password)
	if err != nil {
		return action{}, err
	}
	return g.build(ctx, actor, roomID, key, join, http.StatusOK, positionOnly)
}

// prepareRoomCommand builds a room command that answers {"position"} with status: leave,
// delete room, delete message, set role, kick, unban.
func (g *Gateway) prepareRoomCommand(ctx context.Context, actor, roomID uuid.UUID, key string, p domain.CommandData, status int) (action, error) {
	return g.prepare(ctx, actor, roomID, key, p, status, positionOnly)
}

// prepareTargeted builds a command aimed at another user who need not be a member (ban,
// invite). The room aggregate cannot know whether a user exists, so the gateway checks it in
// the read model: an unknown user is user_not_found rather than a ban or an invitation that
// nobody can ever use. Registration is synchronous, so the read model knows every user who
// could have been named.
func (g *Gateway) prepareTargeted(ctx context.Context, actor, roomID, target uuid.UUID, key string, p domain.CommandData, status int) (action, error) {
	if err := checkKey(key); err != nil {
		return action{}, err
	}
	if err := g.admit(ctx, actor, p.CommandType()); err != nil {
		return action{}, err
	}
	if _, err := g.rm.UserByID(ctx, target); errors.Is(err, readmodel.ErrNotFound) {
		return action{}, &apiError{Code: domain.CodeUserNotFound, Message: "no such user"}
	} else if err != nil {
		return action{}, err
	}
	return g.build(ctx, actor, roomID, key, p, status, positionOnly)
}

// prepareMarkRead builds mark_read; its answer has no position when nothing changed.
func (g *Gateway) prepareMarkRead(ctx context.Context, actor, roomID uuid.UUID, seq int64, key string) (action, error) {
	return g.prepare(ctx, actor, roomID, key, domain.MarkRead{Seq: seq}, http.StatusOK, func(r commands.Reply) (any, error) {
		return markReadResult{Position: r.Position}, nil
	})
}

// prepareEditMessage builds edit_message. MessageUpdated repeats the message's unchanging
// facts, so the answer is the whole edited message without a read.
func (g *Gateway) prepareEditMessage(ctx context.Context, actor, roomID uuid.UUID, p domain.EditMessage, key string) (action, error) {
	return g.prepare(ctx, actor, roomID, key, p, http.StatusOK, func(r commands.Reply) (any, error) {
		d, err := eventData[domain.MessageUpdated](r)
		if err != nil {
			return nil, err
		}
		return messageResult{Message: projections.MessageOfUpdate(d), Position: r.Position}, nil
	})
}

// prepareUpdateRoom builds update_room. RoomUpdated repeats the room as it stands after the
// change, so the answer needs no read; an event without it (written before it existed, so
// only a retry of a very old command) falls back to reading the room at the command's position.
func (g *Gateway) prepareUpdateRoom(ctx context.Context, actor, roomID uuid.UUID, p domain.UpdateRoom, key string) (action, error) {
	return g.prepare(ctx, actor, roomID, key, p, http.StatusOK, func(r commands.Reply) (any, error) {
		d, err := eventData[domain.RoomUpdated](r)
		if err != nil {
			return nil, err
		}
		if d.Room != nil {
			return roomResult{Room: projections.RoomOfUpdate(d), Position: r.Position}, nil
		}
		g.waitPosition(ctx, r.Position)
		room, err := g.rm.Room(ctx, roomID)
		if err != nil {
			// Accepted, but not readable (deleted meanwhile, say): an error the client can
			// retry is honest, and the retry is harmless (the same update again, or the first
			// answer under an idempotency key).
			g.log.Warn("update room: cannot read the room back", "room_id", roomID, "err", err)
			return nil, &apiError{Code: codeNotCaughtUp, Message: "the room was updated but cannot be read back; GET it with ?position=" + r.Position}
		}
		if d.Name != nil {
			room.Name = *d.Name
		}
		if d.Description != nil {
			room.Description = *d.Description
		}
		room.UpdatedAt = d.UpdatedAt.UTC()
		return roomResult{Room: room, Position: r.Position}, nil
	})
}

// prepareUpdateProfile builds update_profile, a command on the actor's own user aggregate. Like
// RoomUpdated, UserProfileUpdated carries only what changed: the user is read back.
func (g *Gateway) prepareUpdateProfile(ctx context.Context, actor uuid.UUID, p domain.UpdateProfile, key string) (action, error) {
	return g.prepare(ctx, actor, actor, key, p, http.StatusOK, func(r commands.Reply) (any, error) {
		d, err := eventData[domain.UserProfileUpdated](r)
		if err != nil {
			return nil, err
		}
		g.waitPosition(ctx, r.Position)
		u, err := g.rm.UserByID(ctx, actor)
		if err != nil {
			g.log.Warn("update profile: cannot read the user back", "user_id", actor, "err", err)
			return nil, &apiError{Code: codeNotCaughtUp, Message: "the profile was updated but cannot be read back yet; GET /users/me with ?position=" + r.Position}
		}
		if d.DisplayName != nil {
			u.DisplayName = *d.DisplayName
		}
		if d.Email != nil {
			u.Email = *d.Email
		}
		if d.AvatarURL != nil {
			u.AvatarURL = *d.AvatarURL
		}
		g.withStatus(ctx, &u)
		return profileResult{User: u, Position: r.Position}, nil
	})
}

// waitPosition waits (bounded by PositionWait) for the read model to include an accepted
// command, so that what is read next shows it. Not reaching it is logged, not failed: the
// caller lays the command's own change over what it reads.
func (g *Gateway) waitPosition(ctx context.Context, position string) {
	pos, err := domain.ParsePosition(position)
	if err != nil {
		g.log.Error("accepted reply carries a malformed position", "position", position, "err", err)
		return
	}
	if err := g.rm.WaitFor(ctx, pos, g.cfg.PositionWait); err != nil {
		g.log.Warn("read model did not reach an accepted command's position", "position", position, "err", err)
	}
}

// execute dispatches an action and returns its answer, or the error to answer with.
func (g *Gateway) execute(ctx context.Context, a action) (any, error) {
	if a.release != nil {
		defer a.release()
	}
	reply, err := g.dispatchCommand(ctx, a.cmd, a.timeoutMsg)
	if err != nil {
		return nil, err
	}
	return a.result(reply)
}

// dispatchCommand dispatches a command and returns its reply if accepted. A rejection and a
// dispatch failure the client can act on are an *apiError; any other error is internal.
func (g *Gateway) dispatchCommand(ctx context.Context, cmd domain.Command, timeoutMsg string) (commands.Reply, error) {
	if cmd.CorrelationID == "" {
		cmd.CorrelationID = correlationID(ctx)
	}
	reply, err := g.dispatch.Dispatch(ctx, cmd)
	g.logDispatched(cmd, reply, err)
	switch {
	case errors.Is(err, commands.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return commands.Reply{}, &apiError{Code: codeTimeout, Message: timeoutMsg}
	case err != nil:
		return commands.Reply{}, err
	case !reply.Accepted:
		return commands.Reply{}, &apiError{Code: reply.Code, Message: reply.Message}
	}
	return reply, nil
}

// eventData finds the event of type T among an accepted reply's events.
func eventData[T domain.EventData](r commands.Reply) (T, error) {
	for _, e := range r.Events {
		if d, ok := e.Data.(T); ok {
			return d, nil
		}
	}
	var zero T
	return zero, fmt.Errorf("accepted reply to command %s carries no %s event", r.CommandID, zero.EventType())
}

// Password limits of accounts. bcrypt reads at most 72 bytes, so a longer password (of an
// account or a room) would be silently cut: it is refused instead.
const (
	minPasswordBytes = 8
	maxPasswordBytes = 72
)
