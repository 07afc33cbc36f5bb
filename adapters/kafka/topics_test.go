package kafka_test

import (
	"slices"
	"testing"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/domain"
)

// Every kind's events have a topic, one that partitions are rebuilt from; the first kinds keep
// the topics their events were always written to.
func TestEveryKindHasAnEventTopic(t *testing.T) {
	topics := kafka.DefaultTopics()
	was := map[string]string{domain.AggregateRoom: "chat-events", domain.AggregateUser: "user-events", domain.AggregateSystem: "system-events"}
	for _, k := range domain.Kinds() {
		topic := topics.OfStream(k.Stream)
		if topic == "" || !slices.Contains(topics.EventTopics(), topic) {
			t.Errorf("%s: stream %q has topic %q, not one of the event topics %v", k.Name, k.Stream, topic, topics.EventTopics())
		}
		if w, ok := was[k.Name]; ok && topic != w {
			t.Errorf("%s: events go to %s, were always written to %s", k.Name, topic, w)
		}
	}
	if got, want := topics.EventTopics(), []string{"chat-events", "user-events", "system-events", "org-events"}; !slices.Equal(got, want) {
		t.Errorf("event topics %v, want %v", got, want)
	}
	if got := topics.OfStream("nowhere"); got != "" {
		t.Errorf("an unknown stream has topic %q", got)
	}
}
