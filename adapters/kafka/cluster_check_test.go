package kafka_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/chorus-chat/chorus/adapters/kafka"
)

// safeBroker is a broker set up as docs/operations.md asks for replication 3.
func safeBroker() map[string]string {
	return map[string]string{
		"default.replication.factor": "3", "min.insync.replicas": "2", "unclean.leader.election.enable": "false",
		"offsets.topic.replication.factor": "3", "transaction.state.log.replication.factor": "3", "transaction.state.log.min.isr": "2",
		"transaction.max.timeout.ms": "900000", "group.min.session.timeout.ms": "6000", "group.max.session.timeout.ms": "1800000",
	}
}

func str(s string) *string { return &s }

func TestClusterProblemsOfAProductionDeployment(t *testing.T) {
	cfg := kafka.Config{Topics: kafka.DefaultTopics(), Replication: 3, SessionTimeout: 10 * time.Second, Heartbeat: time.Second}
	safe := kafka.ClusterFacts{Brokers: 3, Settings: map[int32]map[string]string{1: safeBroker(), 2: safeBroker(), 3: safeBroker()},
		Topics: map[string]sarama.TopicDetail{"chat-events": {NumPartitions: 12, ReplicationFactor: 3}}}
	if w, f := safe.Problems(cfg); len(w) != 0 || len(f) != 0 {
		t.Fatalf("a safe cluster: warnings %q, fatal %q", w, f)
	}

	unsafe := safeBroker()
	unsafe["transaction.state.log.replication.factor"] = "1"
	unsafe["transaction.state.log.min.isr"] = "1"
	unsafe["unclean.leader.election.enable"] = "true"
	delete(unsafe, "offsets.topic.replication.factor")
	facts := kafka.ClusterFacts{Brokers: 2, Settings: map[int32]map[string]string{1: safeBroker(), 2: unsafe},
		Topics: map[string]sarama.TopicDetail{
			"chat-events": {ReplicationFactor: 1},
			"user-events": {ReplicationFactor: 3, ConfigEntries: map[string]*string{"min.insync.replicas": str("1"), "unclean.leader.election.enable": str("true")}},
		}}
	warnings, fatal := facts.Problems(cfg)
	if len(fatal) != 0 {
		t.Errorf("fatal %q", fatal)
	}
	for _, want := range []string{
		"the cluster has 2 brokers, fewer than CHORUS_KAFKA_REPLICATION=3",
		"broker setting transaction.state.log.replication.factor is 1, want at least 3 (a transaction's outcome must survive a broker) (broker 2)",
		"broker setting transaction.state.log.min.isr is 1, want at least 2 (a commit must be on more than one broker) (broker 2)",
		"the brokers do not report offsets.topic.replication.factor: make sure it is at least 3 (the command processors' committed offsets) (broker 2)",
		"broker setting unclean.leader.election.enable is true: a lagging replica may become leader and drop acknowledged events (broker 2)",
		"topic chat-events has replication factor 1, want 3 (kafka-reassign-partitions.sh can add replicas)",
		"topic user-events has min.insync.replicas 1, want 2 (kafka-configs.sh --alter --add-config min.insync.replicas=2)",
		"topic user-events has unclean.leader.election.enable=true: a lagging replica may become leader and drop acknowledged events",
	} {
		if !slices.Contains(warnings, want) {
			t.Errorf("no warning %q in\n%s", want, strings.Join(warnings, "\n"))
		}
	}
	if len(warnings) != 8 {
		t.Errorf("%d warnings, want 8:\n%s", len(warnings), strings.Join(warnings, "\n"))
	}
	// A topic without its own min.insync.replicas has the broker's.
	lowISR := safeBroker()
	lowISR["min.insync.replicas"] = "1"
	facts = kafka.ClusterFacts{Brokers: 3, Settings: map[int32]map[string]string{1: lowISR},
		Topics: map[string]sarama.TopicDetail{"org-events": {ReplicationFactor: 3}}}
	warnings, _ = facts.Problems(cfg)
	if !slices.Contains(warnings, "topic org-events has min.insync.replicas 1, want 2 (kafka-configs.sh --alter --add-config min.insync.replicas=2)") {
		t.Errorf("the broker's min.insync.replicas is not the topic's: %q", warnings)
	}
}

// Replication 1 is development: only what would break the processes is reported.
func TestClusterProblemsOfOneBroker(t *testing.T) {
	one := map[string]string{"transaction.state.log.replication.factor": "1", "min.insync.replicas": "1",
		"transaction.max.timeout.ms": "40000", "group.min.session.timeout.ms": "6000", "group.max.session.timeout.ms": "300000"}
	facts := kafka.ClusterFacts{Brokers: 1, Settings: map[int32]map[string]string{1: one},
		Topics: map[string]sarama.TopicDetail{"chat-events": {ReplicationFactor: 1}}}
	w, f := facts.Problems(kafka.Config{Replication: 1, SessionTimeout: 10 * time.Second})
	if len(w) != 0 || len(f) != 0 {
		t.Errorf("replication 1, safe timeouts: warnings %q, fatal %q", w, f)
	}
	w, f = facts.Problems(kafka.Config{Replication: 1, SessionTimeout: time.Second, TransactionTimeout: time.Minute})
	if want := []string{"broker 1 refuses transactions longer than transaction.max.timeout.ms=40000 ms, less than CHORUS_KAFKA_TRANSACTION_TIMEOUT=1m0s: lower the setting or raise the broker's"}; !slices.Equal(f, want) {
		t.Errorf("fatal %q, want %q", f, want)
	}
	if want := []string{"CHORUS_KAFKA_SESSION_TIMEOUT=1s is below the broker's group.min.session.timeout.ms=6000 ms: consumers cannot join their groups"}; !slices.Equal(w, want) {
		t.Errorf("warnings %q, want %q", w, want)
	}
}

// Against a three-broker cluster: the topics Chorus creates have the replication and
// min.insync.replicas asked, a topic someone else created is reported, and a transaction timeout
// the brokers refuse stops the start.
func TestCheckClusterReadsTheBrokers(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.BrokerConfigs(map[string]string{"min.insync.replicas": "2", "transaction.max.timeout.ms": "60000"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := kafka.Config{Brokers: c.ListenAddrs(), Topics: kafka.DefaultTopics(), Partitions: 3, Replication: 3, SessionTimeout: 10 * time.Second, Heartbeat: time.Second}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, cfg.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(cfg.Topics.UserEvents, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 3,
		ConfigEntries: map[string]*string{"min.insync.replicas": str("1")}}, false); err != nil {
		t.Fatal(err)
	}
	if err := kafka.EnsureTopics(cfg); err != nil {
		t.Fatal(err)
	}
	topics, err := admin.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range cfg.Topics.All() {
		d := topics[name]
		if name == cfg.Topics.UserEvents {
			continue
		}
		if d.ReplicationFactor != 3 || d.ConfigEntries["min.insync.replicas"] == nil || *d.ConfigEntries["min.insync.replicas"] != "2" {
			t.Errorf("%s: replication %d, settings %v; want 3 and min.insync.replicas 2", name, d.ReplicationFactor, d.ConfigEntries)
		}
	}
	warnings, err := kafka.CheckCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(warnings, "topic user-events has min.insync.replicas 1, want 2 (kafka-configs.sh --alter --add-config min.insync.replicas=2)") {
		t.Errorf("the topic made by someone else is not reported:\n%s", strings.Join(warnings, "\n"))
	}
	for _, w := range warnings {
		if strings.Contains(w, "chat-events") {
			t.Errorf("a topic Chorus created is reported: %s", w)
		}
	}
	cfg.TransactionTimeout = 2 * time.Minute
	if _, err := kafka.CheckCluster(cfg); err == nil || !strings.Contains(err.Error(), "transaction.max.timeout.ms=60000 ms, less than CHORUS_KAFKA_TRANSACTION_TIMEOUT=2m0s") {
		t.Errorf("a transaction timeout the brokers refuse: %v", err)
	}
}

// The embedded broker of development is checked too, and passes: no warning for its
// replication of 1 and the session timeouts the servers use.
func TestCheckClusterOfTheEmbeddedBroker(t *testing.T) {
	b, err := kafka.StartEmbedded(kafka.EmbeddedOptions{Addr: "127.0.0.1:0", DataDir: t.TempDir(), MinSessionTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cfg := kafka.Config{Brokers: []string{b.Addr()}, Topics: kafka.DefaultTopics(), Partitions: 2, SessionTimeout: 1500 * time.Millisecond, Heartbeat: time.Second}
	if err := kafka.EnsureTopics(cfg); err != nil {
		t.Fatal(err)
	}
	warnings, err := kafka.CheckCluster(cfg)
	if err != nil || len(warnings) != 0 {
		t.Errorf("embedded broker: warnings %q, err %v", warnings, err)
	}
}
