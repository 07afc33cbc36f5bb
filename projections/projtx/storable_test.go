package projtx_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/projtx"
)

func TestStorableStripsNULEverywhere(t *testing.T) {
	name, desc := "nul\x00room", "d\x00"
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in, want domain.EventData
	}{
		{domain.RoomCreated{Name: "nul\x00room", Description: "\x00x\x00", CreatedAt: at},
			domain.RoomCreated{Name: "nulroom", Description: "x", CreatedAt: at}},
		{domain.RoomUpdated{Name: &name, Description: &desc, Room: &domain.RoomState{Name: "a\x00b", CreatedAt: at}},
			domain.RoomUpdated{Name: ptr("nulroom"), Description: ptr("d"), Room: &domain.RoomState{Name: "ab", CreatedAt: at}}},
		{domain.MessageSent{Message: domain.MessageData{Content: "hi\x00", ClientMsgID: "c\x00"}},
			domain.MessageSent{Message: domain.MessageData{Content: "hi", ClientMsgID: "c"}}},
		{domain.UserProfileUpdated{DisplayName: ptr("\x00Al")}, domain.UserProfileUpdated{DisplayName: ptr("Al")}},
		{domain.SystemEventPublished{Message: "m\x00", Data: json.RawMessage(`{"k\u0000":["\u0000v"],"e":"\\u0000"}`)},
			domain.SystemEventPublished{Message: "m", Data: json.RawMessage(`{"e":"\\u0000","k":["v"]}`)}},
	} {
		in := domain.Event{ID: uuid.New(), Data: tc.in}
		got := projtx.Storable(in)
		if !reflect.DeepEqual(got.Data, tc.want) {
			t.Errorf("Storable(%#v)\n got %#v\nwant %#v", tc.in, got.Data, tc.want)
		}
		if got.ID != in.ID {
			t.Errorf("the envelope changed")
		}
	}
	if name != "nul\x00room" || desc != "d\x00" {
		t.Errorf("Storable modified the event it was given: %q %q", name, desc)
	}
	clean := domain.MessageSent{Message: domain.MessageData{Content: "fine"}}
	if got := projtx.Storable(domain.Event{Data: clean}); !reflect.DeepEqual(got.Data, clean) {
		t.Errorf("a clean event changed: %#v", got.Data)
	}
}

func ptr(s string) *string { return &s }

// Storable runs on every event every Postgres projection applies: go test -bench Storable
// ./projections/projtx/ (a clean message, the common case: a scan, no copy).
func BenchmarkStorableCleanMessage(b *testing.B) {
	reply := uuid.New()
	e := domain.Event{ID: uuid.New(), Data: domain.MessageSent{RoomID: uuid.New(), Message: domain.MessageData{
		ID: uuid.New(), Content: "a message of ordinary length, say eighty characters or so, with some words in it",
		MessageType: domain.MessageText, ReplyToMessageID: &reply, Seq: 42, ClientMsgID: "c-123", CreatedAt: time.Now(),
	}}}
	b.ReportAllocs()
	for b.Loop() {
		_ = projtx.Storable(e)
	}
}
