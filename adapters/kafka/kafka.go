// Package kafka adapts Kafka to Chorus: topics, the Sarama configuration every role shares, the
// embedded Kafka-protocol broker for development, the exact partition reader that rebuilds state,
// the transactional command processor and the checkpointed projector runner.
package kafka

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/IBM/sarama"

	"github.com/chorus-chat/chorus/domain"
)

// Topics names every topic Chorus uses. Every event topic has the same partition count as the
// command topic, so an aggregate's commands and events share a partition number.
type Topics struct {
	Commands      string
	ChatEvents    string
	UserEvents    string
	SystemEvents  string
	OrgEvents     string
	Notifications string
	SearchEvents  string
	// DeadLetters holds the records projectors gave up on (projector.go).
	DeadLetters string
	// Snapshots holds the command processors' partition snapshots (snapshots.go), compacted;
	// empty: no snapshots are read or written.
	Snapshots string
}

// DefaultTopics are the seed's names.
func DefaultTopics() Topics {
	return Topics{
		Commands: "chat-commands", ChatEvents: "chat-events", UserEvents: "user-events",
		SystemEvents: "system-events", OrgEvents: "org-events", Notifications: "notification-events", SearchEvents: "search-events",
		DeadLetters: "chorus-dead-letters",
		Snapshots:   "chorus-snapshots",
	}
}

// All lists every topic.
func (t Topics) All() []string {
	all := []string{t.Commands, t.ChatEvents, t.UserEvents, t.SystemEvents, t.OrgEvents, t.Notifications, t.SearchEvents, t.DeadLetters}
	if t.Snapshots != "" {
		all = append(all, t.Snapshots)
	}
	return all
}

// EventTopics are the topics the command processor appends to and rebuilds from: those of the
// streams of the aggregate kinds (domain.Kinds), in the table's order.
func (t Topics) EventTopics() []string {
	var out []string
	for _, k := range domain.Kinds() {
		if topic := t.OfStream(k.Stream); topic != "" && !slices.Contains(out, topic) {
			out = append(out, topic)
		}
	}
	return out
}

// OfStream is the topic of an event stream (domain.Kind.Stream), "" for a stream it does not
// know: a kind's events go to the topic of its stream.
func (t Topics) OfStream(stream string) string {
	switch stream {
	case domain.StreamChat:
		return t.ChatEvents
	case domain.StreamUsers:
		return t.UserEvents
	case domain.StreamSystem:
		return t.SystemEvents
	}
	return ""
}

// Config is what every Kafka client of Chorus needs to know.
type Config struct {
	Brokers        []string
	Topics         Topics
	Partitions     int32
	Replication    int16 // replication factor of the topics Chorus creates
	ClientID       string
	SessionTimeout time.Duration // consumer group session timeout
	Heartbeat      time.Duration
	// SnapshotEvery is how many events a command processor appends to a partition between two
	// snapshots of its state (snapshots.go): 0 means DefaultSnapshotEvery, below 0 never.
	SnapshotEvery int
}

// Sarama returns the base Sarama configuration. Sarama v1.61 speaks Kafka 3.6 to both kfake
// and real Kafka (older Saramas broke consumer groups on kfake at >= 2.4: docs/dependencies.md).
func (c Config) Sarama() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_6_0_0
	sc.ClientID = c.ClientID
	if sc.ClientID == "" {
		sc.ClientID = "chorus"
	}
	sc.Metadata.RefreshFrequency = time.Minute
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Partitioner = sarama.NewHashPartitioner
	sc.Producer.Flush.Frequency = 0
	sc.Consumer.Return.Errors = true
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Offsets.AutoCommit.Enable = false
	sc.Consumer.MaxWaitTime = 50 * time.Millisecond
	sc.Consumer.Group.Session.Timeout = c.SessionTimeout
	sc.Consumer.Group.Heartbeat.Interval = c.Heartbeat
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}
	return sc
}

// PartitionFor is the partition of a key: Sarama's hash partitioner (FNV-1a), which the command
// publisher uses, so the command and every event of an aggregate land on the same partition.
func PartitionFor(key string, partitions int32) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	p := int32(h.Sum32()) % partitions
	if p < 0 {
		p = -p
	}
	return p
}

// EnsureTopics creates every topic with the configured partition count (explicitly: kfake loses
// auto-created topics when it crashes) and checks that existing ones have that count.
func EnsureTopics(c Config) error {
	admin, err := sarama.NewClusterAdmin(c.Brokers, c.Sarama())
	if err != nil {
		return fmt.Errorf("kafka admin: %w", err)
	}
	defer admin.Close()
	existing, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, t := range c.Topics.All() {
		if d, ok := existing[t]; ok {
			if d.NumPartitions != c.Partitions {
				return fmt.Errorf("topic %s has %d partitions, want %d (CHORUS_PARTITIONS must match the existing topics)", t, d.NumPartitions, c.Partitions)
			}
			continue
		}
		rf := c.Replication
		if rf < 1 {
			rf = 1
		}
		detail := &sarama.TopicDetail{NumPartitions: c.Partitions, ReplicationFactor: rf}
		if t == c.Topics.Snapshots {
			detail.ConfigEntries = snapshotTopicConfig()
		}
		err := admin.CreateTopic(t, detail, false)
		if err != nil && !isTopicExists(err) {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	return nil
}

func isTopicExists(err error) bool {
	var te *sarama.TopicError
	return errors.As(err, &te) && te.Err == sarama.ErrTopicAlreadyExists
}
