package domain

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/chorus-chat/chorus/internal/jsonw"
)

// AppendJSON appends the event as json.Marshal writes it, byte for byte (TestEventAppendJSON).
// A MessageSent, which most events are, is written without reflection: a command processor
// encodes every event it appends, and json.Marshal was 3% of the all-in-one process's CPU at
// saturation (docs/benchmarks.md). Other events go through json.Marshal.
func (e *Event) AppendJSON(b []byte) ([]byte, error) {
	d, ok := e.Data.(MessageSent)
	if !ok {
		enc, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		return append(b, enc...), nil
	}
	m := &d.Message
	b = jsonw.UUID(append(b, `{"id":`...), e.ID)
	b = jsonw.String(append(b, `,"type":`...), e.Type)
	b = jsonw.String(append(b, `,"aggregate_type":`...), e.AggregateType)
	b = jsonw.UUID(append(b, `,"aggregate_id":`...), e.AggregateID)
	b = strconv.AppendInt(append(b, `,"version":`...), e.Version, 10)
	b, ok = jsonw.Time(append(b, `,"occurred_at":`...), e.OccurredAt)
	if !ok {
		return nil, errNoJSONTime(e)
	}
	b = jsonw.UUID(append(b, `,"actor_id":`...), e.ActorID)
	b = jsonw.UUID(append(b, `,"command_id":`...), e.CommandID)
	b = strconv.AppendInt(append(b, `,"schema_version":`...), int64(e.SchemaVersion), 10)
	b = jsonw.UUID(append(b, `,"data":{"room_id":`...), d.RoomID)
	b = jsonw.UUID(append(b, `,"message":{"id":`...), m.ID)
	b = jsonw.UUID(append(b, `,"room_id":`...), m.RoomID)
	b = jsonw.UUID(append(b, `,"sender_id":`...), m.SenderID)
	b = jsonw.String(append(b, `,"content":`...), m.Content)
	b = jsonw.String(append(b, `,"message_type":`...), m.MessageType)
	b = append(b, `,"reply_to_message_id":`...)
	if m.ReplyToMessageID == nil {
		b = append(b, "null"...)
	} else {
		b = jsonw.UUID(b, *m.ReplyToMessageID)
	}
	b = strconv.AppendInt(append(b, `,"seq":`...), m.Seq, 10)
	if m.ClientMsgID != "" {
		b = jsonw.String(append(b, `,"client_msg_id":`...), m.ClientMsgID)
	}
	b, ok = jsonw.Time(append(b, `,"created_at":`...), m.CreatedAt)
	if !ok {
		return nil, errNoJSONTime(e)
	}
	b = append(b, "}}"...)
	if e.ActingID != nil {
		b = jsonw.UUID(append(b, `,"acting_id":`...), *e.ActingID)
	}
	return append(b, '}'), nil
}

// errNoJSONTime is the error of an event with a time json.Marshal cannot write.
func errNoJSONTime(e *Event) error {
	return fmt.Errorf("event %s: a time outside the years 0 to 9999 or with a zone offset of a day or more has no JSON form", e.ID)
}
