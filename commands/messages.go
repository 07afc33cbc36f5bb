package commands

import (
	"context"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// maxClientMsgIDBytes bounds client_msg_id, which is stored with the message.
const maxClientMsgIDBytes = 128

// SendMessage is the input of send_message. Content is required (a transport whose absent
// content means an empty one passes a pointer to ""); ReplyTo is an optional message id.
type SendMessage struct {
	RoomID      uuid.UUID
	Content     *string
	MessageType string
	ReplyTo     *string
	ClientMsgID string
	Key         string
}

// Check finds what is missing or malformed in the input, before anything is done for it.
func (in SendMessage) Check() error {
	if in.Content == nil {
		return Required("content")
	}
	_, err := ParseOptionalID("reply_to_message_id", in.ReplyTo)
	return err
}

// SendMessage posts a message. Its answer is a MessageResult.
func (a *Application) SendMessage(ctx context.Context, actor uuid.UUID, in SendMessage) (Action, error) {
	if err := in.Check(); err != nil {
		return Action{}, err
	}
	replyTo, _ := ParseOptionalID("reply_to_message_id", in.ReplyTo)
	if len(in.ClientMsgID) > maxClientMsgIDBytes {
		return Action{}, errValidation("client_msg_id is longer than %d bytes", maxClientMsgIDBytes)
	}
	if err := checkKey(in.Key); err != nil {
		return Action{}, err
	}
	if err := a.admit(ctx, actor, domain.CmdSendMessage); err != nil {
		return Action{}, err
	}
	// With a client_msg_id the command id is derived from it, so a retry is the same command
	// and the processor answers it with the original message instead of appending another.
	// The contract's client_msg_id wins over a generic idempotency key.
	id := commandID(actor, domain.CmdSendMessage, in.RoomID, in.Key)
	if in.ClientMsgID != "" {
		id = domain.SendCommandID(in.RoomID, actor, in.ClientMsgID)
	}
	cmd, err := a.newCommand(ctx, id, in.RoomID, actor, domain.SendMessage{
		Content: *in.Content, MessageType: in.MessageType, ReplyToMessageID: replyTo, ClientMsgID: in.ClientMsgID,
	})
	if err != nil {
		return Action{}, err
	}
	timeoutMsg := defaultTimeoutMsg + "; a retry may post it twice (send a client_msg_id to make retries safe)"
	switch {
	case in.ClientMsgID != "":
		timeoutMsg = defaultTimeoutMsg + "; retrying with the same client_msg_id is safe"
	case in.Key != "":
		timeoutMsg = timeoutMessage(in.Key)
	}
	return Action{
		Command: cmd, timeoutMsg: timeoutMsg,
		result: func(r Reply) (any, error) {
			d, err := eventData[domain.MessageSent](r)
			if err != nil {
				return nil, err
			}
			m := projections.MessageOf(d.Message)
			for _, e := range r.Events {
				m.SentBy = e.ActingID // a delegate's, under on_behalf_of
			}
			return MessageResult{Message: m, Position: r.Position}, nil
		},
	}, nil
}

// EditMessage is the input of edit_message; Content is required.
type EditMessage struct {
	RoomID, MessageID uuid.UUID
	Content           *string
	Key               string
}

// Check finds what is missing in the input.
func (in EditMessage) Check() error {
	if in.Content == nil {
		return Required("content")
	}
	return nil
}

// EditMessage changes a message's content: the author only. MessageUpdated repeats the
// message's unchanging facts, so the answer (a MessageResult) is the whole edited message
// without a read.
func (a *Application) EditMessage(ctx context.Context, actor uuid.UUID, in EditMessage) (Action, error) {
	if err := in.Check(); err != nil {
		return Action{}, err
	}
	p := domain.EditMessage{MessageID: in.MessageID, Content: *in.Content}
	return a.prepare(ctx, actor, in.RoomID, in.Key, p, func(r Reply) (any, error) {
		d, err := eventData[domain.MessageUpdated](r)
		if err != nil {
			return nil, err
		}
		return MessageResult{Message: projections.MessageOfUpdate(d), Position: r.Position}, nil
	})
}

// DeleteMessage deletes a message: the author, the owner or an admin. Its answer is a
// PositionResult.
func (a *Application) DeleteMessage(ctx context.Context, actor, roomID, messageID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, roomID, key, domain.DeleteMessage{MessageID: messageID}, positionOnly)
}

// MarkRead is the input of mark_read; Seq is required.
type MarkRead struct {
	RoomID uuid.UUID
	Seq    *int64
	Key    string
}

// Check finds what is missing in the input.
func (in MarkRead) Check() error {
	if in.Seq == nil {
		return Required("seq")
	}
	return nil
}

// MarkRead moves the actor's read marker forward. A seq at or below the marker is accepted and
// changes nothing: the answer (a MarkReadResult) then has no position.
func (a *Application) MarkRead(ctx context.Context, actor uuid.UUID, in MarkRead) (Action, error) {
	if err := in.Check(); err != nil {
		return Action{}, err
	}
	return a.prepare(ctx, actor, in.RoomID, in.Key, domain.MarkRead{Seq: *in.Seq}, func(r Reply) (any, error) {
		return MarkReadResult{Position: r.Position}, nil
	})
}
