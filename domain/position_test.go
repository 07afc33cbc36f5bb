package domain_test

import (
	"math"
	"testing"

	"github.com/chorus-chat/chorus/domain"
)

func TestPositionRoundTrip(t *testing.T) {
	for _, p := range []domain.Position{
		{Topic: "chat-events", Partition: 0, Offset: 0},
		{Topic: "chat-events", Partition: 3, Offset: 12345},
		{Topic: "user-events", Partition: math.MaxInt32, Offset: math.MaxInt64},
		{Topic: "a", Partition: 1, Offset: 2},
		{Topic: "ns:with:colons", Partition: 7, Offset: 9},
		{Topic: "topic.with_dots-and-dashes", Partition: 12, Offset: 1 << 40},
	} {
		s := p.String()
		got, err := domain.ParsePosition(s)
		if err != nil {
			t.Errorf("ParsePosition(%q): %v", s, err)
			continue
		}
		if got != p {
			t.Errorf("ParsePosition(%q) = %#v, want %#v", s, got, p)
		}
		if got.String() != s {
			t.Errorf("String() of parsed %q = %q", s, got.String())
		}
		if got.IsZero() {
			t.Errorf("%q parses to a zero position", s)
		}
	}
	if s := (domain.Position{Topic: "chat-events", Partition: 2, Offset: 41}).String(); s != "chat-events:2:41" {
		t.Errorf("String() = %q, want chat-events:2:41", s)
	}
	if !(domain.Position{}).IsZero() {
		t.Error("zero position is not IsZero")
	}
}

func TestParsePositionRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"chat-events",
		"chat-events:1",
		":1:2",
		"::",
		"t::2",
		"t:1:",
		"t:x:2",
		"t:1:y",
		"t:-1:2",
		"t:1:-2",
		"t:1.5:2",
		"t:1:2.0",
		"t:2147483648:0",          // partition overflows int32
		"t:0:9223372036854775808", // offset overflows int64
		"t: 1:2",
		"t:1:2 ",
		"t:0x1:2",
	} {
		if p, err := domain.ParsePosition(s); err == nil {
			t.Errorf("ParsePosition(%q) = %#v, want an error", s, p)
		}
	}
}
