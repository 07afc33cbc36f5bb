package domain

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The message log gives back every fact it was given: replaced facts, replies, deletion, types it
// has no number for, times to the nanosecond, in the order the messages came, across blocks.
func TestMessageLogKeepsEveryFact(t *testing.T) {
	var l messageLog
	at := time.Date(2026, 12, 7, 9, 30, 0, 123456789, time.UTC)
	alice, bob := uuid.New(), uuid.New()
	var ids []uuid.UUID
	want := map[uuid.UUID]messageFacts{}
	for i := range 3*factBlock + 7 {
		id := uuid.New()
		m := messageFacts{sender: alice, seq: int64(i + 1), mtype: messageTypes[i%len(messageTypes)], createdAt: at.Add(time.Duration(i))}
		if i%3 == 0 {
			m.sender = bob
		}
		if i > 0 && i%5 == 0 {
			r := ids[i-1]
			m.replyTo = &r
		}
		if i%11 == 0 {
			m.mtype = "poll" // a type of a later release
		}
		l.put(id, m)
		ids = append(ids, id)
		want[id] = m
	}
	// A fact put again replaces the first: its reply and odd type go.
	again := messageFacts{sender: alice, seq: 11, mtype: MessageText, createdAt: at}
	l.put(ids[10], again)
	want[ids[10]] = again
	l.markDeleted(ids[7])
	m := want[ids[7]]
	m.deleted = true
	want[ids[7]] = m
	l.markDeleted(uuid.New()) // not a message of the log: nothing happens

	if l.len() != len(ids) {
		t.Fatalf("len %d, want %d", l.len(), len(ids))
	}
	for _, id := range ids {
		got, ok := l.get(id)
		if !ok || !reflect.DeepEqual(got, want[id]) {
			t.Fatalf("message %s: got %+v %v, want %+v", id, got, ok, want[id])
		}
	}
	if _, ok := l.get(uuid.New()); ok {
		t.Fatal("a message the log never had was found")
	}
	var order []uuid.UUID
	l.each(func(id uuid.UUID, m messageFacts) {
		order = append(order, id)
		if !reflect.DeepEqual(m, want[id]) {
			t.Fatalf("each gave message %s as %+v, want %+v", id, m, want[id])
		}
	})
	if !reflect.DeepEqual(order, ids) {
		t.Fatal("each did not give the messages in the order they came")
	}
	// The facts handed out are copies: changing one changes nothing in the log.
	got, _ := l.get(ids[5])
	*got.replyTo = uuid.Nil
	if again, _ := l.get(ids[5]); *again.replyTo != ids[4] {
		t.Fatal("a reply handed out shares its id with the log")
	}
}
