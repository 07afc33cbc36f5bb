package kafka_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/domain"
)

// DecodeEvent gives what encoding/json gives, for every event type at every schema version (the
// golden fixtures) and for the samples with awkward strings.
func TestDecodeEventIsEncodingJSON(t *testing.T) {
	var values [][]byte
	files, err := filepath.Glob("../../domain/testdata/events/*/v[0-9].json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden fixtures: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, b)
	}
	for _, ev := range sampleEvents(t) {
		b, _ := json.Marshal(ev)
		values = append(values, b)
	}
	for _, b := range values {
		var want domain.Event
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("encoding/json: %v\n%s", err, b)
		}
		got, err := kafka.DecodeEvent(b)
		if err != nil {
			t.Fatalf("DecodeEvent: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeEvent\n%+v\nencoding/json\n%+v\nof %s", got, want, b)
		}
	}
	for _, bad := range []string{`{"type":"MessageSent"`, `{"type":"NoSuchEvent","occurred_at":"2024-01-01T00:00:00Z","data":{}}`,
		`{"id":"not-a-uuid","type":"RoomDeleted","occurred_at":"2024-01-01T00:00:00Z","data":{}}`} {
		if _, err := kafka.DecodeEvent([]byte(bad)); err == nil {
			t.Errorf("DecodeEvent(%s) = nil error", bad)
		}
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	ev := sampleEvents(b)[2]
	raw, _ := json.Marshal(ev)
	b.Run("encoding/json", func(b *testing.B) {
		for range b.N {
			var e domain.Event
			if err := json.Unmarshal(raw, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DecodeEvent", func(b *testing.B) {
		for range b.N {
			if _, err := kafka.DecodeEvent(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
