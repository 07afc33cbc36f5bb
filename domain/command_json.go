package domain

import (
	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/internal/jsonw"
)

// decodeSendMessage reads a send_message command laid out as json.Marshal writes a Command (its
// members in the struct's order, no white space, strings without escapes) into c, and reports
// false, leaving c alone, for anything else, which Command.UnmarshalJSON then decodes with
// json.Unmarshal. What it reads, json.Unmarshal reads to the same Command
// (FuzzCommandUnmarshalDirect). A command processor decodes every command; encoding/json's two
// passes (the envelope, then the payload) were 5% of the all-in-one process at saturation
// (docs/benchmarks.md).
func decodeSendMessage(b []byte, c *Command) bool {
	r := jsonw.Reader{B: b}
	var cmd Command
	var p SendMessage
	var ok bool
	if !r.Eat('{') || !r.Key("id") || !r.UUID(&cmd.ID) || !r.Next("type") {
		return false
	}
	if cmd.Type, ok = r.String(); !ok || cmd.Type != CmdSendMessage || !r.Next("aggregate_type") {
		return false
	}
	if cmd.AggregateType, ok = r.String(); !ok {
		return false
	}
	if !r.Next("aggregate_id") || !r.UUID(&cmd.AggregateID) || !r.Next("actor_id") || !r.UUID(&cmd.ActorID) || !r.Next("actor_name") {
		return false
	}
	if cmd.ActorName, ok = r.String(); !ok {
		return false
	}
	if !r.Next("issued_at") || !r.Time(&cmd.IssuedAt) || !r.Next("payload") || !r.Eat('{') || !r.Key("content") {
		return false
	}
	if p.Content, ok = r.String(); !ok {
		return false
	}
	if r.Next("message_type") {
		if p.MessageType, ok = r.String(); !ok {
			return false
		}
	}
	if r.Next("reply_to_message_id") {
		p.ReplyToMessageID = new(uuid.UUID)
		if !r.UUID(p.ReplyToMessageID) {
			return false
		}
	}
	if r.Next("client_msg_id") {
		if p.ClientMsgID, ok = r.String(); !ok {
			return false
		}
	}
	if !r.Eat('}') {
		return false
	}
	if r.Next("correlation_id") {
		if cmd.CorrelationID, ok = r.String(); !ok {
			return false
		}
	}
	if r.Next("acting_id") {
		cmd.ActingID = new(uuid.UUID)
		if !r.UUID(cmd.ActingID) {
			return false
		}
	}
	if !r.Eat('}') || !r.End() {
		return false
	}
	cmd.Payload = p
	*c = cmd
	return true
}
