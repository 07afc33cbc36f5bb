package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/google/uuid"

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
		if f.Content == nil {
			c.enqueue(errorFrame(id, codeInvalidFrame, "content is required"))
			return
		}
		replyTo, err := parseOptionalUUID(f.ReplyToMessageID)
		if err != nil {
			c.enqueue(errorFrame(id, codeInvalidFrame, "reply_to_message_id is not a valid id"))
			return
		}
		in := sendInput{RoomID: roomID, Content: *f.Content, MessageType: f.MessageType, ReplyTo: replyTo, ClientMsgID: f.ClientMsgID, Key: f.ClientCommandID}
		c.startCommand(id, func(ctx context.Context) (action, error) { return c.g.prepareSend(ctx, c.userID, in) })
	case frameCreateRoom:
		var f createRoomFrame
		if !c.decodeFields(data, id, &f) {
			return
		}
		if f.Name == nil {
			c.enqueue(errorFrame(id, codeInvalidFrame, "name is required"))
			return
		}
		in := createRoomInput{Name: *f.Name, Description: f.Description, IsPrivate: f.IsPrivate, Password: f.Password, Key: f.ClientCommandID}
		// Prepared on the command goroutine: a room password costs a bcrypt hash.
		c.startCommand(id, func(ctx context.Context) (action, error) { return c.g.prepareCreateRoom(ctx, c.userID, in) })
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
		c.startCommand(id, func(ctx context.Context) (action, error) {
			if leave {
				return c.g.prepareRoomCommand(ctx, c.userID, roomID, f.ClientCommandID, domain.LeaveRoom{}, http.StatusOK)
			}
			return c.g.prepareJoin(ctx, c.userID, roomID, f.Password, f.ClientCommandID)
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
	default:
		c.enqueue(errorFrame(id, codeInvalidFrame, "unknown frame type "+quoteShort(h.Type)))
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
	if s == nil {
		c.enqueue(errorFrame(id, codeInvalidFrame, "room_id is required"))
		return uuid.Nil, false
	}
	r, err := uuid.Parse(*s)
	if err != nil {
		c.enqueue(errorFrame(id, codeInvalidFrame, "room_id is not a valid id"))
		return uuid.Nil, false
	}
	return r, true
}

// startCommand runs a command on its own goroutine and answers it with an ack or an error.
// The command is held on the socket from before its dispatch to after its answer is queued,
// so pushes it causes cannot overtake the answer.
func (c *conn) startCommand(id json.RawMessage, prepare func(context.Context) (action, error)) {
	select {
	case c.slots <- struct{}{}:
	case <-c.closing:
		return
	}
	c.cmds.Add(1)
	go func() {
		defer func() {
			<-c.slots
			c.cmds.Done()
		}()
		a, err := prepare(c.ctx)
		if err != nil {
			c.enqueue(c.errorFrameOf(id, err))
			return
		}
		c.hold(a.cmd.ID)
		res, err := c.g.execute(c.ctx, a)
		answer := encodeFrame(ackFrame{Type: "ack", ID: id, Result: res})
		if err != nil {
			answer = c.errorFrameOf(id, err)
		}
		c.release(a.cmd.ID, answer)
	}()
}

// errorFrameOf is the error frame for any error a command ends with; internal errors are
// logged and shown only as "internal".
func (c *conn) errorFrameOf(id json.RawMessage, err error) []byte {
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
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
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
// answers are those of the HTTP calls: the same prepare functions build them.
func (c *conn) handleCommandFrame(typ string, id json.RawMessage, data []byte) {
	var f commandFrame
	if !c.decodeFields(data, id, &f) {
		return
	}
	key := f.ClientCommandID
	if typ == frameUpdateProfile {
		p := domain.UpdateProfile{DisplayName: f.DisplayName, AvatarURL: f.AvatarURL, Email: f.Email}
		c.startCommand(id, func(ctx context.Context) (action, error) { return c.g.prepareUpdateProfile(ctx, c.userID, p, key) })
		return
	}
	roomID, ok := c.roomID(id, f.RoomID)
	if !ok {
		return
	}
	var prepare func(context.Context) (action, error)
	switch typ {
	case frameEditMessage, frameDeleteMessage:
		msgID, ok := c.requiredID(id, "message_id", f.MessageID)
		if !ok {
			return
		}
		if typ == frameDeleteMessage {
			prepare = func(ctx context.Context) (action, error) {
				return c.g.prepareRoomCommand(ctx, c.userID, roomID, key, domain.DeleteMessage{MessageID: msgID}, http.StatusOK)
			}
			break
		}
		if f.Content == nil {
			c.enqueue(errorFrame(id, codeInvalidFrame, "content is required"))
			return
		}
		p := domain.EditMessage{MessageID: msgID, Content: *f.Content}
		prepare = func(ctx context.Context) (action, error) {
			return c.g.prepareEditMessage(ctx, c.userID, roomID, p, key)
		}
	case frameUpdateRoom:
		p := domain.UpdateRoom{Name: f.Name, Description: f.Description}
		prepare = func(ctx context.Context) (action, error) { return c.g.prepareUpdateRoom(ctx, c.userID, roomID, p, key) }
	case frameDeleteRoom:
		prepare = func(ctx context.Context) (action, error) {
			return c.g.prepareRoomCommand(ctx, c.userID, roomID, key, domain.DeleteRoom{}, http.StatusOK)
		}
	case frameMarkRead:
		if f.Seq == nil {
			c.enqueue(errorFrame(id, codeInvalidFrame, "seq is required"))
			return
		}
		seq := *f.Seq
		prepare = func(ctx context.Context) (action, error) { return c.g.prepareMarkRead(ctx, c.userID, roomID, seq, key) }
	default: // the commands aimed at a user
		userID, ok := c.requiredID(id, "user_id", f.UserID)
		if !ok {
			return
		}
		switch typ {
		case frameSetRole:
			if f.Role == nil {
				c.enqueue(errorFrame(id, codeInvalidFrame, "role is required"))
				return
			}
			p := domain.SetRole{UserID: userID, Role: *f.Role}
			prepare = func(ctx context.Context) (action, error) {
				return c.g.prepareRoomCommand(ctx, c.userID, roomID, key, p, http.StatusOK)
			}
		case frameKickMember:
			prepare = func(ctx context.Context) (action, error) {
				return c.g.prepareRoomCommand(ctx, c.userID, roomID, key, domain.KickMember{UserID: userID}, http.StatusOK)
			}
		case frameUnbanMember:
			prepare = func(ctx context.Context) (action, error) {
				return c.g.prepareRoomCommand(ctx, c.userID, roomID, key, domain.UnbanMember{UserID: userID}, http.StatusOK)
			}
		case frameBanMember:
			p := domain.BanMember{UserID: userID, Reason: f.Reason}
			prepare = func(ctx context.Context) (action, error) {
				return c.g.prepareTargeted(ctx, c.userID, roomID, userID, key, p, http.StatusOK)
			}
		case frameInviteUser:
			prepare = func(ctx context.Context) (action, error) {
				return c.g.prepareTargeted(ctx, c.userID, roomID, userID, key, domain.InviteUser{UserID: userID}, http.StatusCreated)
			}
		}
	}
	c.startCommand(id, prepare)
}

// requiredID reads a required id field other than room_id.
func (c *conn) requiredID(id json.RawMessage, field string, s *string) (uuid.UUID, bool) {
	if s == nil {
		c.enqueue(errorFrame(id, codeInvalidFrame, field+" is required"))
		return uuid.Nil, false
	}
	v, err := uuid.Parse(*s)
	if err != nil {
		c.enqueue(errorFrame(id, codeInvalidFrame, field+" is not a valid id"))
		return uuid.Nil, false
	}
	return v, true
}
