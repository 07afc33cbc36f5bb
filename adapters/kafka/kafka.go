// Package kafka adapts Kafka to Chorus: topics, the Sarama configuration every role shares, the
// embedded Kafka-protocol broker for development, the exact partition reader that rebuilds state,
// the transactional command processor and the checkpointed projector runner.
package kafka

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
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

// WithSuffix is t with suffix appended to every name: a deployment's topics after a partition
// migration (chorusctl topics repartition) are the old names with a suffix, say ".p24".
func (t Topics) WithSuffix(suffix string) Topics {
	if suffix == "" {
		return t
	}
	for _, name := range []*string{&t.Commands, &t.ChatEvents, &t.UserEvents, &t.SystemEvents, &t.OrgEvents,
		&t.Notifications, &t.SearchEvents, &t.DeadLetters, &t.Snapshots} {
		if *name != "" {
			*name += suffix
		}
	}
	return t
}

// CheckTopicSuffix refuses a topic-name suffix Kafka would refuse in a name: letters, digits,
// '.', '_' and '-' only, short enough for the longest topic name (249 characters).
func CheckTopicSuffix(suffix string) error {
	for _, r := range suffix {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("topic suffix %q: only letters, digits, '.', '_' and '-' may be in a topic name", suffix)
		}
	}
	longest := 0
	for _, t := range DefaultTopics().All() {
		longest = max(longest, len(t))
	}
	if longest+len(suffix) > 249 {
		return fmt.Errorf("topic suffix %q: topic names would be longer than Kafka's 249 characters", suffix)
	}
	return nil
}

// Logs are the topics whose records must outlive a partition migration and are copied to the
// new topics (repartition.go): the event topics, the notification and search logs and the dead
// letters. The command topic is not among them (once the processors have stopped, every command
// in it is decided and its effects are events), nor the snapshots (per partition of the old
// count: the processors write new ones).
func (t Topics) Logs() []string {
	return append(t.EventTopics(), t.Notifications, t.SearchEvents, t.DeadLetters)
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
	case domain.StreamOrgs:
		return t.OrgEvents
	}
	return ""
}

// Config is what every Kafka client of Chorus needs to know.
type Config struct {
	Brokers     []string
	Topics      Topics
	Partitions  int32
	Replication int16 // replication factor of the topics Chorus creates
	// MinInSyncReplicas is the min.insync.replicas of the topics Chorus creates: with acks=all a
	// write succeeds only once that many replicas have it. 0: Replication-1, at least 1
	// (MinISR).
	MinInSyncReplicas int16
	// TransactionTimeout is the command processors' transaction.timeout.ms: how long the broker
	// lets a transaction stay open before it aborts it (at most the broker's
	// transaction.max.timeout.ms). 0: DefaultTransactionTimeout.
	TransactionTimeout time.Duration
	ClientID           string
	SessionTimeout     time.Duration // consumer group session timeout
	Heartbeat          time.Duration
	// SnapshotEvery is how many events a command processor appends to a partition between two
	// snapshots of its state (snapshots.go): 0 means DefaultSnapshotEvery, below 0 never.
	SnapshotEvery int
	// CommandOffsetsEvery is how often at most a command processor commits a partition's
	// position to group CommandGroup while commands come (command_processor.go: the position
	// that counts is the one its events carry); 0 means DefaultCommandOffsetsEvery.
	CommandOffsetsEvery time.Duration
}

// DefaultCommandOffsetsEvery is CommandOffsetsEvery unless configured.
const DefaultCommandOffsetsEvery = time.Second

func (c Config) commandOffsetsEvery() time.Duration {
	if c.CommandOffsetsEvery > 0 {
		return c.CommandOffsetsEvery
	}
	return DefaultCommandOffsetsEvery
}

// DefaultTransactionTimeout is the command processors' transaction timeout unless configured.
const DefaultTransactionTimeout = 30 * time.Second

// MinISR is the min.insync.replicas Chorus gives the topics it creates.
func (c Config) MinISR() int16 {
	if c.MinInSyncReplicas > 0 {
		return c.MinInSyncReplicas
	}
	return max(c.Replication-1, 1)
}

// TxnTimeout is the transaction timeout of the command processors' producers.
func (c Config) TxnTimeout() time.Duration {
	if c.TransactionTimeout > 0 {
		return c.TransactionTimeout
	}
	return DefaultTransactionTimeout
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

// DefaultPartitions is the partition count of the topics a deployment creates when it is not
// told one (CHORUS_PARTITIONS unset) and finds none. Every partition costs every reader: each
// consumer group's fetch names it and the broker answers for it, Sarama runs a consumer
// goroutine for it, each command processor a transactional producer. In the all-in-one server
// at 1,000 messages a second, 12 partitions against 4 cost 4–6% more CPU per message and put
// the p99 up by half (docs/benchmarks.md, 2026-12-07, the partition count). Four allow 1, 2 or 4
// evenly loaded processors; a deployment that will grow past that names its count when it first
// starts (docs/operations.md, Choosing the partition count).
const DefaultPartitions = 4

// EnsureTopics creates every topic with the configured partition count (explicitly: kfake loses
// auto-created topics when it crashes), replication factor and min.insync.replicas, and checks
// that existing ones have that count: a different count is changed by a migration, never in
// place (docs/operations.md).
func EnsureTopics(c Config) error {
	if c.Partitions < 1 {
		return fmt.Errorf("partition count %d: at least 1 (SettleTopics takes the existing topics' count)", c.Partitions)
	}
	_, _, err := SettleTopics(c)
	return err
}

// SettleTopics is EnsureTopics for a process that may not be told the partition count: with
// c.Partitions 0 the count is the existing topics' (the command topic's, else the first existing
// one's of Topics.All), so that no process of a deployment need repeat it, or DefaultPartitions
// when none exists (byDefault). It returns the count the topics have, from one listing of them.
func SettleTopics(c Config) (partitions int32, byDefault bool, err error) {
	if c.Partitions < 0 {
		return 0, false, fmt.Errorf("partition count %d: at least 1, or 0 for the existing topics' count", c.Partitions)
	}
	admin, err := sarama.NewClusterAdmin(c.Brokers, c.Sarama())
	if err != nil {
		return 0, false, fmt.Errorf("kafka admin: %w", err)
	}
	defer admin.Close()
	existing, err := admin.ListTopics()
	if err != nil {
		return 0, false, fmt.Errorf("list topics: %w", err)
	}
	partitions = c.Partitions
	for _, t := range c.Topics.All() {
		if d, ok := existing[t]; ok && partitions == 0 {
			partitions = d.NumPartitions
		}
	}
	if partitions == 0 {
		partitions, byDefault = DefaultPartitions, true
	}
	return partitions, byDefault, createTopics(admin, c, existing, c.Topics.All(), partitions)
}

// ensureTopics creates those of topics that do not exist with the given partition count (the
// snapshot topic compacted) and refuses existing ones with another count.
func ensureTopics(admin sarama.ClusterAdmin, c Config, topics []string, partitions int32) error {
	existing, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	return createTopics(admin, c, existing, topics, partitions)
}

// createTopics is ensureTopics with the topics that exist already.
func createTopics(admin sarama.ClusterAdmin, c Config, existing map[string]sarama.TopicDetail, topics []string, partitions int32) error {
	for _, t := range topics {
		if d, ok := existing[t]; ok {
			if d.NumPartitions != partitions {
				return fmt.Errorf("topic %s has %d partitions, want %d: CHORUS_PARTITIONS must match the existing topics; "+
					"to change the count, copy the logs into new topics with `chorusctl topics repartition --partitions %d --to-suffix SUFFIX` "+
					"and set CHORUS_TOPIC_SUFFIX (docs/operations.md, Changing the partition count)", t, d.NumPartitions, partitions, partitions)
			}
			continue
		}
		detail := &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: max(c.Replication, 1), ConfigEntries: map[string]*string{}}
		if t == c.Topics.Snapshots {
			detail.ConfigEntries = snapshotTopicConfig()
		}
		minISR := strconv.Itoa(int(c.MinISR()))
		detail.ConfigEntries["min.insync.replicas"] = &minISR
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
