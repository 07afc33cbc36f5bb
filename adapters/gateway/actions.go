package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

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
	positionResult struct {
		Position string `json:"position"`
	}
)

const defaultTimeoutMsg = "no reply from the command processor in time; the command may still be applied"

// maxClientMsgIDBytes bounds client_msg_id, which is stored with the message.
const maxClientMsgIDBytes = 128

// sendInput is a send_message as either transport parsed it.
type sendInput struct {
	RoomID      uuid.UUID
	Content     string
	MessageType string
	ReplyTo     *uuid.UUID
	ClientMsgID string
}

// createRoomInput is a create_room as either transport parsed it.
type createRoomInput struct {
	Name        string
	Description string
	IsPrivate   bool
	Password    string
}

// newCommand fills the envelope: the actor's name comes from the (cached) read model.
func (g *Gateway) newCommand(ctx context.Context, id, aggregateID, actor uuid.UUID, p domain.CommandData) (domain.Command, error) {
	name, err := g.actorName(ctx, actor)
	if err != nil {
		return domain.Command{}, err
	}
	return domain.NewCommand(id, aggregateID, actor, name, time.Now(), p), nil
}

func (g *Gateway) prepareSend(ctx context.Context, actor uuid.UUID, in sendInput) (action, error) {
	if len(in.ClientMsgID) > maxClientMsgIDBytes {
		return action{}, errValidation("client_msg_id is longer than %d bytes", maxClientMsgIDBytes)
	}
	// With a client_msg_id the command id is derived from it, so a retry is the same command
	// and the processor answers it with the original message instead of appending another.
	id := uuid.New()
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
	if in.ClientMsgID != "" {
		timeoutMsg = defaultTimeoutMsg + "; retrying with the same client_msg_id is safe"
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

func (g *Gateway) prepareCreateRoom(ctx context.Context, actor uuid.UUID, in createRoomInput) (action, error) {
	p := domain.CreateRoom{Name: in.Name, Description: in.Description, IsPrivate: in.IsPrivate}
	if in.Password != "" {
		// Checked here as well as by the domain so that a doomed request costs no bcrypt hash.
		if !in.IsPrivate {
			return action{}, errValidation("only a private room can have a password")
		}
		if len(in.Password) > maxPasswordBytes {
			return action{}, errValidation("password is longer than %d bytes", maxPasswordBytes)
		}
		hash, err := g.hash(in.Password)
		if err != nil {
			return action{}, err
		}
		// Only the slow salted hash enters the command (and so the log), never the password.
		p.PasswordHash = hash
	}
	cmd, err := g.newCommand(ctx, uuid.New(), uuid.New(), actor, p)
	if err != nil {
		return action{}, err
	}
	return action{
		cmd: cmd, status: http.StatusCreated, timeoutMsg: defaultTimeoutMsg,
		result: func(r commands.Reply) (any, error) {
			d, err := eventData[domain.RoomCreated](r)
			if err != nil {
				return nil, err
			}
			return roomResult{Room: projections.RoomOf(d), Position: r.Position}, nil
		},
	}, nil
}

// joinCommand builds a join. A password is checked here, against the room's bcrypt hash in the
// read model, so that the slow hash never runs on the command processor's single-writer path
// and the clear password never enters the command log: the command carries the hash the
// password matched, and the room aggregate accepts it only if that is still the room's hash.
// A wrong password sends no hash, and the aggregate answers wrong_password.
func (g *Gateway) joinCommand(ctx context.Context, roomID uuid.UUID, password string) (domain.JoinRoom, error) {
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
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return domain.JoinRoom{}, nil
	}
	return domain.JoinRoom{PasswordHash: hash}, nil
}

// prepareMembership builds join_room and leave_room.
func (g *Gateway) prepareMembership(ctx context.Context, actor, roomID uuid.UUID, p domain.CommandData) (action, error) {
	cmd, err := g.newCommand(ctx, uuid.New(), roomID, actor, p)
	if err != nil {
		return action{}, err
	}
	return action{
		cmd: cmd, status: http.StatusOK, timeoutMsg: defaultTimeoutMsg,
		result: func(r commands.Reply) (any, error) { return positionResult{Position: r.Position}, nil },
	}, nil
}

// execute dispatches an action and returns its answer, or the error to answer with.
func (g *Gateway) execute(ctx context.Context, a action) (any, error) {
	reply, err := g.dispatchCommand(ctx, a.cmd, a.timeoutMsg)
	if err != nil {
		return nil, err
	}
	return a.result(reply)
}

// dispatchCommand dispatches a command and returns its reply if accepted. A rejection and a
// dispatch failure the client can act on are an *apiError; any other error is internal.
func (g *Gateway) dispatchCommand(ctx context.Context, cmd domain.Command, timeoutMsg string) (commands.Reply, error) {
	reply, err := g.dispatch.Dispatch(ctx, cmd)
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

// hash is the bcrypt hash of a password already checked to be at most maxPasswordBytes.
func (g *Gateway) hash(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), g.cfg.BcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}
