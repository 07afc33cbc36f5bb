package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

// Client frame types.
const (
	frameSendMessage   = "send_message"
	frameCreateRoom    = "create_room"
	frameJoinRoom      = "join_room"
	frameLeaveRoom     = "leave_room"
	framePing          = "ping"
	framePong          = "pong"
	frameHeartbeat     = "heartbeat"
	frameEditMessage   = "edit_message"
	frameDeleteMessage = "delete_message"
	frameUpdateRoom    = "update_room"
	frameDeleteRoom    = "delete_room"
	frameTyping        = "typing"
	frameMarkRead      = "mark_read"
	frameResume        = "resume"
)

// frameHeader is what every client frame has. ID is kept raw so it is echoed exactly.
type frameHeader struct {
	Type string          `json:"type"`
	ID   json.RawMessage `json:"id"`
	// OnBehalfOf names the principal a delegate sends a room command for (http_proxies.go).
	OnBehalfOf *string `json:"on_behalf_of"`
}

// Fields of the command frames. Required fields are pointers so that a missing field is told
// apart from an empty one (missing is invalid_frame, empty is for the domain to judge).
type (
	roomFrame struct {
		RoomID *string `json:"room_id"`
	}
	joinRoomFrame struct {
		RoomID   *string `json:"room_id"`
		Password string  `json:"password"`
		commandKeyField
	}
	sendMessageFrame struct {
		RoomID *string `json:"room_id"`
		sendMessageRequest
		commandKeyField
	}
	createRoomFrame struct {
		Name        *string `json:"name"`
		Description string  `json:"description"`
		IsPrivate   bool    `json:"is_private"`
		Password    string  `json:"password"`
		commandKeyField
	}
)

// Server frames that answer a client frame.
type (
	ackFrame struct {
		Type   string          `json:"type"`
		ID     json.RawMessage `json:"id,omitempty"`
		Result any             `json:"result"`
	}
	errFrame struct {
		Type    string          `json:"type"`
		ID      json.RawMessage `json:"id,omitempty"`
		Code    string          `json:"code"`
		Message string          `json:"message"`
		// RetryAfter is in seconds, on refusals that say when to retry (budgets).
		RetryAfter int `json:"retry_after,omitempty"`
	}
	pongFrame struct {
		Type string          `json:"type"`
		ID   json.RawMessage `json:"id,omitempty"`
	}
)

// handleFrame answers one client frame. Cheap frames are answered inline; commands run on
// their own goroutine.
func (c *conn) handleFrame(data []byte) {
	var h frameHeader
	if err := json.Unmarshal(data, &h); err != nil {
		c.enqueue(errorFrame(nil, codeInvalidFrame, "a frame must be one JSON object: "+jsonProblem(err, &h)))
		return
	}
	if bytes.Equal(h.ID, []byte("null")) {
		h.ID = nil
	}
	if len(h.ID) > 0 && h.ID[0] != '"' {
		c.enqueue(errorFrame(nil, codeInvalidFrame, "id must be a string"))
		return
	}
	id := h.ID
	if len(id) > 0 {
		id = canonicalID(id)
	}
	// Read by startCommand, on this goroutine, for the command this frame starts.
	c.onBehalfOf = uuid.Nil
	if h.OnBehalfOf != nil && *h.OnBehalfOf != "" {
		p, err := uuid.Parse(*h.OnBehalfOf)
		if err != nil {
			c.enqueue(errorFrame(id, codeInvalidFrame, "on_behalf_of must be a user id"))
			return
		}
		c.onBehalfOf = p
	}
	switch h.Type {
	case framePing:
		c.enqueue(encodeFrame(pongFrame{Type: "pong", ID: id}))
	case frameHeartbeat:
		c.presenceActive(true)
		c.enqueue(encodeFrame(ackFrame{Type: "ack", ID: id, Result: struct{}{}}))
	case framePong:
		// The answer to our {"type":"ping"}: reading it already counted as activity.
	case frameSendMessage:
		var f sendMessageFrame
		if !c.decodeFields(data, id, &f) {
			return
		}
		roomID, ok := c.roomID(id, f.RoomID)
		if !ok {
			return
		}
		in := commands.SendMessage{
			RoomID: roomID, Content: f.Content, MessageType: f.MessageType, ReplyTo: f.ReplyToMessageID,
			ClientMsgID: f.ClientMsgID, Key: f.ClientCommandID,
		}
		if c.checked(id, in.Check()) {
			c.startCommand(id, func(ctx context.Context) (commands.Action, error) { return c.g.app.SendMessage(ctx, c.userID, in) })
		}
	case frameCreateRoom:
		var f createRoomFrame
		if !c.decodeFields(data, id, &f) {
			return
		}
		in := commands.CreateRoom{Name: f.Name, Description: f.Description, IsPrivate: f.IsPrivate, Password: f.Password, Key: f.ClientCommandID}
		// Prepared on the command goroutine: a room password costs a bcrypt hash.
		if c.checked(id, in.Check()) {
			c.startCommand(id, func(ctx context.Context) (commands.Action, error) { return c.g.app.CreateRoom(ctx, c.userID, in) })
		}
	case frameJoinRoom, frameLeaveRoom:
		var f joinRoomFrame
		if !c.decodeFields(data, id, &f) {
			return
		}
		roomID, ok := c.roomID(id, f.RoomID)
		if !ok {
			return
		}
		leave := h.Type == frameLeaveRoom
		c.startCommand(id, func(ctx context.Context) (commands.Action, error) {
			if leave {
				return c.g.app.LeaveRoom(ctx, c.userID, roomID, f.ClientCommandID)
			}
			return c.g.app.JoinRoom(ctx, c.userID, roomID, f.Password, f.ClientCommandID)
		})
	case frameEditMessage, frameDeleteMessage, frameUpdateRoom, frameDeleteRoom, frameMarkRead,
		frameSetRole, frameKickMember, frameBanMember, frameUnbanMember, frameInviteUser, frameUpdateProfile:
		c.handleCommandFrame(h.Type, id, data)
	case frameTyping:
		c.typing(id, data)
	case frameResume:
		c.resume(id, data)
	case frameReauth:
		c.reauth(id, data)
	case "":
		c.enqueue(errorFrame(id, codeInvalidFrame, "type is required"))
	case frameGrantProxy, frameRevokeProxy:
		c.handleProxyFrame(h.Type, id, data) // ws_proxies.go
	default:
		if !c.handleOrgFrame(h.Type, id, data) { // ws_orgs.go
			c.enqueue(errorFrame(id, codeInvalidFrame, "unknown frame type "+quoteShort(h.Type)))
		}
	}
}

// decodeFields decodes a frame's fields, answering invalid_frame when they have wrong types.
func (c *conn) decodeFields(data []byte, id json.RawMessage, dst any) bool {
	if err := json.Unmarshal(data, dst); err != nil {
		c.enqueue(errorFrame(id, codeInvalidFrame, "malformed fields: "+jsonProblem(err, dst)))
		return false
	}
	return true
}

// roomID reads a required room_id field.
func (c *conn) roomID(id json.RawMessage, s *string) (uuid.UUID, bool) {
	return c.requiredID(id, "room_id", s)
}

// requiredID reads a required id field (commands.ParseID).
func (c *conn) requiredID(id json.RawMessage, field string, s *string) (uuid.UUID, bool) {
	v, err := commands.ParseID(field, s)
	return v, c.checked(id, err)
}

// checked answers a frame whose fields a use case's Check (or commands.ParseID) found missing
// or malformed with invalid_frame, at once, and reports whether the fields were fine.
func (c *conn) checked(id json.RawMessage, err error) bool {
	if err != nil {
		c.enqueue(c.errorFrameOf(id, err))
		return false
	}
	return true
}

// startCommand runs a command on its own goroutine and answers it with an ack or an error.
// The command is held on the socket from before its dispatch to after its answer is queued,
// so pushes it causes cannot overtake the answer.
func (c *conn) startCommand(id json.RawMessage, prepare func(context.Context) (commands.Action, error)) {
	principal := c.onBehalfOf
	c.startTask(func() {
		act, err := prepare(c.ctx)
		if err == nil && principal != uuid.Nil {
			act, err = c.g.app.ActFor(c.ctx, act, principal)
		}
		if err != nil {
			c.enqueue(c.errorFrameOf(id, err))
			return
		}
		c.hold(act.Command.ID)
		res, err := c.g.app.Execute(c.ctx, act)
		answer := encodeFrame(ackFrame{Type: "ack", ID: id, Result: res})
		if err != nil {
			answer = c.errorFrameOf(id, err)
		}
		c.release(act.Command.ID, answer)
	})
}

// errorFrameOf is the error frame for any error a command ends with; internal errors are
// logged and shown only as "internal". A field a use case found missing or malformed is
// invalid_frame: over a socket the fields are the frame's.
func (c *conn) errorFrameOf(id json.RawMessage, err error) []byte {
	var fe *commands.FieldError
	if errors.As(err, &fe) {
		return errorFrame(id, codeInvalidFrame, fe.Message)
	}
	ae, internal := asAPIError(err)
	if internal && c.ctx.Err() == nil {
		c.g.log.Error("websocket command failed", "user_id", c.userID, "err", err)
	}
	return encodeFrame(errFrame{Type: "error", ID: id, Code: ae.Code, Message: ae.Message, RetryAfter: ae.retryAfterSeconds()})
}

func errorFrame(id json.RawMessage, code, msg string) []byte {
	return encodeFrame(errFrame{Type: "error", ID: id, Code: code, Message: msg})
}

// encodeFrame marshals a server frame. The frames are plain structs of strings and views, so
// marshalling cannot fail short of a bug; a nil frame is dropped by enqueue.
func encodeFrame(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// quoteShort quotes a client-given string for a message, cut so an error frame stays small.
func quoteShort(s string) string {
	const most = 64
	if len(s) > most {
		s = s[:most] + "…"
	}
	return strconv.Quote(s)
}

// Extension command frames (moderation and profile; the contract's own are above).
const (
	frameSetRole       = "set_role"
	frameKickMember    = "kick_member"
	frameBanMember     = "ban_member"
	frameUnbanMember   = "unban_member"
	frameInviteUser    = "invite_user"
	frameUpdateProfile = "update_profile"
)

// commandKeyField is the idempotency key every command frame may carry: the socket's
// Idempotency-Key (see commandID).
type commandKeyField struct {
	ClientCommandID string `json:"client_command_id"`
}

// commandFrame holds the fields of every command frame that handleCommandFrame decodes; which
// of them a frame requires depends on its type.
type commandFrame struct {
	RoomID      *string `json:"room_id"`
	MessageID   *string `json:"message_id"`
	UserID      *string `json:"user_id"`
	Content     *string `json:"content"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Seq         *int64  `json:"seq"`
	Role        *string `json:"role"`
	Reason      string  `json:"reason"`
	DisplayName *string `json:"display_name"`
	AvatarURL   *string `json:"avatar_url"`
	Email       *string `json:"email"`
	commandKeyField
}

// handleCommandFrame answers the command frames beyond send, create, join and leave. Their
// answers are those of the HTTP calls: the same use cases build them.
func (c *conn) handleCommandFrame(typ string, id json.RawMessage, data []byte) {
	var f commandFrame
	if !c.decodeFields(data, id, &f) {
		return
	}
	app, key := c.g.app, f.ClientCommandID
	if typ == frameUpdateProfile {
		p := domain.UpdateProfile{DisplayName: f.DisplayName, AvatarURL: f.AvatarURL, Email: f.Email}
		c.startCommand(id, func(ctx context.Context) (commands.Action, error) { return app.UpdateProfile(ctx, c.userID, p, key) })
		return
	}
	roomID, ok := c.roomID(id, f.RoomID)
	if !ok {
		return
	}
	var prepare func(context.Context) (commands.Action, error)
	switch typ {
	case frameEditMessage, frameDeleteMessage:
		msgID, ok := c.requiredID(id, "message_id", f.MessageID)
		if !ok {
			return
		}
		if typ == frameDeleteMessage {
			prepare = func(ctx context.Context) (commands.Action, error) {
				return app.DeleteMessage(ctx, c.userID, roomID, msgID, key)
			}
			break
		}
		in := commands.EditMessage{RoomID: roomID, MessageID: msgID, Content: f.Content, Key: key}
		if !c.checked(id, in.Check()) {
			return
		}
		prepare = func(ctx context.Context) (commands.Action, error) { return app.EditMessage(ctx, c.userID, in) }
	case frameUpdateRoom:
		in := commands.UpdateRoom{RoomID: roomID, Name: f.Name, Description: f.Description, Key: key}
		prepare = func(ctx context.Context) (commands.Action, error) { return app.UpdateRoom(ctx, c.userID, in) }
	case frameDeleteRoom:
		prepare = func(ctx context.Context) (commands.Action, error) { return app.DeleteRoom(ctx, c.userID, roomID, key) }
	case frameMarkRead:
		in := commands.MarkRead{RoomID: roomID, Seq: f.Seq, Key: key}
		if !c.checked(id, in.Check()) {
			return
		}
		prepare = func(ctx context.Context) (commands.Action, error) { return app.MarkRead(ctx, c.userID, in) }
	default: // the commands aimed at a user
		userID, ok := c.requiredID(id, "user_id", f.UserID)
		if !ok {
			return
		}
		switch typ {
		case frameSetRole:
			in := commands.SetRole{RoomID: roomID, UserID: userID, Role: f.Role, Key: key}
			if !c.checked(id, in.Check()) {
				return
			}
			prepare = func(ctx context.Context) (commands.Action, error) { return app.SetRole(ctx, c.userID, in) }
		case frameKickMember:
			prepare = func(ctx context.Context) (commands.Action, error) {
				return app.KickMember(ctx, c.userID, roomID, userID, key)
			}
		case frameUnbanMember:
			prepare = func(ctx context.Context) (commands.Action, error) {
				return app.UnbanMember(ctx, c.userID, roomID, userID, key)
			}
		case frameBanMember:
			prepare = func(ctx context.Context) (commands.Action, error) {
				return app.BanMember(ctx, c.userID, roomID, userID, f.Reason, key)
			}
		case frameInviteUser:
			prepare = func(ctx context.Context) (commands.Action, error) {
				return app.InviteUser(ctx, c.userID, roomID, userID, key)
			}
		}
	}
	c.startCommand(id, prepare)
}
