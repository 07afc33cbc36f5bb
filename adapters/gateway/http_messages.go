package gateway

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/queries"
)

// sendMessageRequest is the body of POST /rooms/{id}/messages and the fields of send_message.
// Content is a pointer so that a frame can tell a missing field from an empty one.
type sendMessageRequest struct {
	Content          *string `json:"content"`
	MessageType      string  `json:"message_type"`
	ReplyToMessageID *string `json:"reply_to_message_id"`
	ClientMsgID      string  `json:"client_msg_id"`
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

// history: GET /rooms/{id}/messages?before_seq=&after_seq=&limit= (queries.History).
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
	in := queries.History{RoomID: roomID}
	if c.QueryParams().Has("before_seq") {
		in.BeforeSeq = &before
	}
	if c.QueryParams().Has("after_seq") {
		in.AfterSeq = &after
	}
	// Checked before the limit is read, so that a request with several faults is told the same
	// one as ever.
	if err := in.Check(); err != nil {
		return err
	}
	limit, err := intParam(c, "limit", queries.DefaultHistoryLimit, 1, queries.MaxHistoryLimit)
	if err != nil {
		return err
	}
	in.Limit = int(limit)
	page, err := g.queries.History(c.Request().Context(), currentUser(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
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
