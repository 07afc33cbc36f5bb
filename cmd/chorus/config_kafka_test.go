package main

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chorus-chat/chorus/adapters/kafka"
)

// The Kafka settings of a multi-broker deployment reach kafka.Config, and every bad one is
// refused before anything starts, naming the variable.
func TestKafkaSettings(t *testing.T) {
	t.Setenv("CHORUS_KAFKA_REPLICATION", "3")
	t.Setenv("CHORUS_TOPIC_SUFFIX", ".p24")
	t.Setenv("CHORUS_KAFKA_TRANSACTION_TIMEOUT", "45s")
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	k := kafkaConfig(c, []string{"k1:9092"})
	if k.Replication != 3 || k.MinISR() != 2 || k.TxnTimeout() != 45*time.Second {
		t.Errorf("replication %d, min.insync.replicas %d, transaction timeout %v; want 3, 2 (replication - 1), 45s", k.Replication, k.MinISR(), k.TxnTimeout())
	}
	if k.Topics.ChatEvents != "chat-events.p24" || k.Topics.Commands != "chat-commands.p24" || k.Topics.Snapshots != "chorus-snapshots.p24" {
		t.Errorf("topics with the suffix: %+v", k.Topics)
	}
	t.Setenv("CHORUS_KAFKA_MIN_INSYNC_REPLICAS", "3")
	if c, err := loadConfig(); err != nil || kafkaConfig(c, nil).MinISR() != 3 {
		t.Errorf("CHORUS_KAFKA_MIN_INSYNC_REPLICAS=3: %v", err)
	}
	for _, tc := range []struct{ name, value, want string }{
		{"CHORUS_KAFKA_REPLICATION", "0", "CHORUS_KAFKA_REPLICATION must be at least 1"},
		{"CHORUS_KAFKA_MIN_INSYNC_REPLICAS", "4", "CHORUS_KAFKA_MIN_INSYNC_REPLICAS (4) must be between 1 and CHORUS_KAFKA_REPLICATION (3)"},
		{"CHORUS_KAFKA_MIN_INSYNC_REPLICAS", "-1", "CHORUS_KAFKA_MIN_INSYNC_REPLICAS (-1) must be between 1"},
		{"CHORUS_KAFKA_TRANSACTION_TIMEOUT", "500ms", "CHORUS_KAFKA_TRANSACTION_TIMEOUT (500ms) must be at least 1s"},
		{"CHORUS_KAFKA_HEARTBEAT", "10s", "CHORUS_KAFKA_HEARTBEAT (10s) must be positive and below CHORUS_KAFKA_SESSION_TIMEOUT (10s)"},
		{"CHORUS_TOPIC_SUFFIX", "/p24", `CHORUS_TOPIC_SUFFIX: topic suffix "/p24": only letters, digits`},
		{"CHORUS_TOPIC_SUFFIX", strings.Repeat("x", 240), "longer than Kafka's 249 characters"},
	} {
		t.Run(tc.name+"="+tc.value[:min(len(tc.value), 8)], func(t *testing.T) {
			t.Setenv(tc.name, tc.value)
			if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s=%s: %v, want %q", tc.name, tc.value, err, tc.want)
			}
		})
	}
}

// Without CHORUS_PARTITIONS a process makes a new deployment's topics with the default count and
// takes the existing topics' count otherwise (a data directory made under the old default of 12
// keeps working); CHORUS_PARTITIONS set to another count than the topics' is refused, naming the
// migration.
func TestPartitionCount(t *testing.T) {
	b, err := kafka.StartEmbedded(kafka.EmbeddedOptions{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	log := slog.New(slog.DiscardHandler)
	// settle starts a process with CHORUS_PARTITIONS at env ("": unset): its topics' count.
	settle := func(env string) (int32, error) {
		t.Helper()
		if env == "" {
			os.Unsetenv("CHORUS_PARTITIONS") // t.Setenv below restores it at the end
		} else {
			t.Setenv("CHORUS_PARTITIONS", env)
		}
		c, err := loadConfig()
		if err != nil {
			t.Fatal(err)
		}
		return settleTopics(kafkaConfig(c, []string{b.Addr()}), log)
	}
	t.Setenv("CHORUS_PARTITIONS", "")
	t.Setenv("CHORUS_TOPIC_SUFFIX", ".old")
	if _, err := settle("12"); err != nil { // a deployment made when the default was 12
		t.Fatal(err)
	}
	if got, err := settle(""); err != nil || got != 12 {
		t.Errorf("unset, on topics of 12 partitions: %d partitions (%v), want 12", got, err)
	}
	_, err = settle("6")
	if err == nil || !strings.Contains(err.Error(), "has 12 partitions, want 6") || !strings.Contains(err.Error(), "chorusctl topics repartition") {
		t.Errorf("CHORUS_PARTITIONS=6 on topics of 12: %v, want the mismatch refused, naming the migration", err)
	}

	t.Setenv("CHORUS_TOPIC_SUFFIX", ".new")
	if got, err := settle(""); err != nil || got != kafka.DefaultPartitions {
		t.Errorf("unset, no topics: %d partitions (%v), want the default %d", got, err, kafka.DefaultPartitions)
	}
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if got, byDefault, err := kafka.SettleTopics(kafkaConfig(c, []string{b.Addr()})); err != nil || got != kafka.DefaultPartitions || byDefault {
		t.Errorf("the topics made: %d partitions (%v, by default %v), want %d, existing", got, err, byDefault, kafka.DefaultPartitions)
	}

	t.Setenv("CHORUS_PARTITIONS", "0")
	if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "CHORUS_PARTITIONS must be at least 1") {
		t.Errorf("CHORUS_PARTITIONS=0: %v, want it refused", err)
	}
}
