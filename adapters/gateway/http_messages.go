package gateway

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// sendMessageRequest is the body of POST /rooms/{id}/messages and the fields of send_message.
// Content is a pointer so that a frame can tell a missing field from an empty one.
type sendMessageRequest struct {
	Content          *string `json:"content"`
	MessageType      string  `json:"message_type"`
	ReplyToMessageID *string `json:"reply_to_message_id"`
	ClientMsgID      string  `json:"client_msg_id"`
}

// History paging (contract: limit ≤ 200, default 50).
const (
	defaultHistoryLimit = 50
	maxHistoryLimit     = 200
)

type historyResult struct {
	Messages []projections.Message `json:"messages"`
	HasMore  bool                  `json:"has_more"`
}

func (g *Gateway) sendMessage(c echo.Context) error {
	roomID, err := roomParam(c)
	if err != nil {
		return err
	}
	var req sendMessageRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	in := commands.SendMessage{
		RoomID: roomID, Content: req.Content, MessageType: req.MessageType, ReplyTo: req.ReplyToMessageID,
		ClientMsgID: req.ClientMsgID, Key: idempotencyKey(c),
	}
	if in.Content == nil {
		in.Content = new(string) // over HTTP an absent content is an empty one, which the domain refuses
	}
	act, err := g.app.SendMessage(c.Request().Context(), currentUser(c), in)
	return g.answer(c, http.StatusCreated, act, err)
}

// history: GET /rooms/{id}/messages?before_seq=&after_seq=&limit=. Members only: a public
// room's non-member is told so (403 not_a_member); a private room's is answered 404
// room_not_found, as search answers, whether or not they may see the room itself (an invitee).
func (g *Gateway) history(c echo.Context) error {
	roomID, err := roomParam(c)
	if err != nil {
		return err
	}
	const maxSeq = 1<<63 - 1
	before, err := intParam(c, "before_seq", 0, 0, maxSeq)
	if err != nil {
		return err
	}
	after, err := intParam(c, "after_seq", 0, 0, maxSeq)
	if err != nil {
		return err
	}
	forward := c.QueryParams().Has("after_seq")
	if forward && c.QueryParams().Has("before_seq") {
		return errValidation("give before_seq or after_seq, not both")
	}
	limit, err := intParam(c, "limit", defaultHistoryLimit, 1, maxHistoryLimit)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	room, member, err := g.visibleRoom(ctx, roomID, currentUser(c))
	if err != nil {
		return err
	}
	if !member && room.IsPrivate {
		return errRoomNotFound()
	}
	if !member {
		return &apiError{Code: domain.CodeNotAMember, Message: "only members can read this room's history"}
	}
	msgs, more, err := g.rm.Messages(ctx, roomID, readmodel.HistoryQuery{BeforeSeq: before, AfterSeq: after, After: forward, Limit: int(limit)})
	if err != nil {
		return err
	}
	if msgs == nil {
		msgs = []projections.Message{}
	}
	return c.JSON(http.StatusOK, historyResult{Messages: msgs, HasMore: more})
}

type editMessageRequest struct {
	Content *string `json:"content"`
}

// editMessage: PATCH /rooms/{id}/messages/{mid} {content}: the author only.
func (g *Gateway) editMessage(c echo.Context) error {
	roomID, msgID, err := roomAndIDParams(c, "mid", domain.CodeMessageNotFound, "no such message")
	if err != nil {
		return err
	}
	var req editMessageRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	act, err := g.app.EditMessage(c.Request().Context(), currentUser(c),
		commands.EditMessage{RoomID: roomID, MessageID: msgID, Content: req.Content, Key: idempotencyKey(c)})
	return g.answer(c, http.StatusOK, act, err)
}

// deleteMessage: DELETE /rooms/{id}/messages/{mid}: the author, the owner or an admin.
func (g *Gateway) deleteMessage(c echo.Context) error {
	roomID, msgID, err := roomAndIDParams(c, "mid", domain.CodeMessageNotFound, "no such message")
	if err != nil {
		return err
	}
	act, err := g.app.DeleteMessage(c.Request().Context(), currentUser(c), roomID, msgID, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}
