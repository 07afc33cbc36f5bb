package domain

// Applied recognizes a send this room already applied, after the partition's memory of recent
// command ids (a bounded window) has let it go: the message's id derives from the command id, so
// a send whose message exists was applied. It returns the MessageSent that send produced, rebuilt
// from what the room remembers (id, seq, sender, type, reply, time) and the command (its content
// and client_msg_id), so that a late retry by the same client_msg_id is answered as the first
// attempt was instead of appending the message again. The rebuilt event's Version is 0: the room
// does not remember it. Only sends are recognized: they are what clients retry by an id of their
// own long after; other commands that are retried late fail a check of the room's state (a room
// that exists, a member who joined) or apply the same change again.
func (r *Room) Applied(cmd Command) ([]Event, bool) {
	p, ok := cmd.Payload.(SendMessage)
	if !ok {
		return nil, false
	}
	id := MessageIDFor(cmd.ID)
	m, ok := r.messages.get(id)
	if !ok || m.sender != cmd.ActorID {
		return nil, false
	}
	content, err := messageContent(m.mtype, p.Content)
	if err != nil {
		content = p.Content
	}
	evs := eventsOf(cmd, -1, m.createdAt, MessageSent{RoomID: r.id, Message: MessageData{
		ID: id, RoomID: r.id, SenderID: m.sender, Content: content, MessageType: m.mtype,
		ReplyToMessageID: copyID(m.replyTo), Seq: m.seq, ClientMsgID: p.ClientMsgID, CreatedAt: m.createdAt,
	}})
	return evs, true
}
