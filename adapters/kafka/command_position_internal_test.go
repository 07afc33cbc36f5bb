package kafka

import (
	"testing"

	"github.com/IBM/sarama"
)

func TestDecidedIn(t *testing.T) {
	h := func(k, v string) *sarama.RecordHeader { return &sarama.RecordHeader{Key: []byte(k), Value: []byte(v)} }
	own := commandsDecided("chat-commands.v2", 3, 1234)
	if string(own) != "chat-commands.v2/3/1234" {
		t.Fatalf("header value %q", own)
	}
	for _, tc := range []struct {
		headers []*sarama.RecordHeader
		want    int64
	}{
		{nil, 0},
		{[]*sarama.RecordHeader{h("other", "x"), h(HeaderCommandsDecided, string(own))}, 1234},
		{[]*sarama.RecordHeader{h(HeaderCommandsDecided, "chat-commands/3/99")}, 0},     // another layout's topic
		{[]*sarama.RecordHeader{h(HeaderCommandsDecided, "chat-commands.v2/13/99")}, 0}, // another partition
		{[]*sarama.RecordHeader{h(HeaderCommandsDecided, "chat-commands.v2/3/")}, 0},
		{[]*sarama.RecordHeader{h(HeaderCommandsDecided, "chat-commands.v2/3/-5")}, 0},
		{[]*sarama.RecordHeader{h(HeaderCommandsDecided, "3/1234")}, 0},
		{[]*sarama.RecordHeader{h(HeaderCommandsDecided, "garbage")}, 0},
		{[]*sarama.RecordHeader{nil, h(HeaderCommandsDecided, string(own))}, 1234},
	} {
		if got := decidedIn(tc.headers, "chat-commands.v2", 3); got != tc.want {
			t.Errorf("decidedIn(%v) = %d, want %d", tc.headers, got, tc.want)
		}
	}
}
