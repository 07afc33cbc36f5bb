package domain

import (
	"time"

	"github.com/google/uuid"
)

// messageFacts is what a room knows about one of its messages: what later commands on it (edit,
// delete, a reply, a late retry of its send) are checked against.
type messageFacts struct {
	sender    uuid.UUID
	seq       int64
	mtype     string
	replyTo   *uuid.UUID
	createdAt time.Time
	deleted   bool
}

// messageLog holds a room's messageFacts, every message it ever had, in the order they were sent.
//
// A room keeps them for as long as the command processor holds the room, so they grow with its
// history (a busy room gains ~86,000 a day at one message a second). They are stored without a
// single pointer, so that the garbage collector, which scans every pointer of the live heap at
// each collection, never reads them. Kept as a map of messageFacts (a string, a *uuid.UUID and a
// time.Time each) they were 136 bytes a message, all of it scanned, and the longer the process
// ran the longer each collection's mark phase took; here they are 60, none of it scanned
// (BenchmarkRoomMessageMemory; docs/benchmarks.md). A message is its index entry (a 16-byte id
// and a 4-byte place) and a fact of 32 bytes: the sender is a number into the room's senders,
// the type a number into messageTypes, and the rare reply or unknown type sits in a small map of
// its own.
type messageLog struct {
	at map[uuid.UUID]int32 // message id -> its place in facts
	// facts in blocks of factBlock, so that a long history grows without being copied.
	facts []*[factBlock]storedFact
	n     int32
	// senders numbers the room's senders (storedFact.sender); bySender is its index.
	senders  []uuid.UUID
	bySender map[uuid.UUID]uint32
	// replies holds the message each reply answers, by the reply's place; odd the types that are
	// not in messageTypes (none the domain accepts today; an older log may hold some).
	replies map[int32]uuid.UUID
	odd     map[int32]string
}

// storedFact is messageFacts without pointers.
type storedFact struct {
	seq     int64
	unix    int64 // createdAt's seconds and nanoseconds, UTC
	nano    int32
	sender  uint32
	mtype   uint8 // index into messageTypes; oddType: in messageLog.odd
	deleted bool
	reply   bool // in messageLog.replies
}

const factBlock = 512

// messageTypes are the types a storedFact names by number.
var messageTypes = [...]string{MessageText, MessageImage, MessageFile, MessageSystem}

const oddType = 255

// len is the number of messages.
func (l *messageLog) len() int { return int(l.n) }

// fact is the storedFact at place i.
func (l *messageLog) fact(i int32) *storedFact { return &l.facts[i/factBlock][i%factBlock] }

// reserve makes room for n more messages in the index.
func (l *messageLog) reserve(n int) {
	if n > 0 && l.at == nil {
		l.at = make(map[uuid.UUID]int32, n)
		l.bySender = map[uuid.UUID]uint32{}
	}
}

// put records m as message id's facts, replacing what the log had for id.
func (l *messageLog) put(id uuid.UUID, m messageFacts) {
	if l.at == nil {
		l.at = map[uuid.UUID]int32{}
		l.bySender = map[uuid.UUID]uint32{}
	}
	i, ok := l.at[id]
	if !ok {
		i = l.n
		if i%factBlock == 0 {
			l.facts = append(l.facts, new([factBlock]storedFact))
		}
		l.n++
		l.at[id] = i
	}
	sender, ok := l.bySender[m.sender]
	if !ok {
		sender = uint32(len(l.senders))
		l.senders = append(l.senders, m.sender)
		l.bySender[m.sender] = sender
	}
	f := storedFact{seq: m.seq, unix: m.createdAt.Unix(), nano: int32(m.createdAt.Nanosecond()), sender: sender,
		mtype: oddType, deleted: m.deleted, reply: m.replyTo != nil}
	for n, t := range messageTypes {
		if t == m.mtype {
			f.mtype = uint8(n)
		}
	}
	setSparse(&l.odd, i, m.mtype, f.mtype == oddType)
	var reply uuid.UUID
	if m.replyTo != nil {
		reply = *m.replyTo
	}
	setSparse(&l.replies, i, reply, f.reply)
	*l.fact(i) = f
}

// setSparse sets or removes place i of a sparse map.
func setSparse[V any](m *map[int32]V, i int32, v V, set bool) {
	switch {
	case set && *m == nil:
		*m = map[int32]V{i: v}
	case set:
		(*m)[i] = v
	default:
		delete(*m, i)
	}
}

// get returns message id's facts.
func (l *messageLog) get(id uuid.UUID) (messageFacts, bool) {
	i, ok := l.at[id]
	if !ok {
		return messageFacts{}, false
	}
	return l.load(i), true
}

// load rebuilds the facts at place i.
func (l *messageLog) load(i int32) messageFacts {
	f := l.fact(i)
	m := messageFacts{sender: l.senders[f.sender], seq: f.seq, createdAt: time.Unix(f.unix, int64(f.nano)).UTC(),
		deleted: f.deleted}
	if f.mtype == oddType {
		m.mtype = l.odd[i]
	} else {
		m.mtype = messageTypes[f.mtype]
	}
	if f.reply {
		r := l.replies[i]
		m.replyTo = &r
	}
	return m
}

// markDeleted marks message id deleted, if the room has it.
func (l *messageLog) markDeleted(id uuid.UUID) {
	if i, ok := l.at[id]; ok {
		l.fact(i).deleted = true
	}
}

// each calls fn with every message's id and facts, in the order they were first put.
func (l *messageLog) each(fn func(uuid.UUID, messageFacts)) {
	ids := make([]uuid.UUID, l.n)
	for id, i := range l.at {
		ids[i] = id
	}
	for i, id := range ids {
		fn(id, l.load(int32(i)))
	}
}
