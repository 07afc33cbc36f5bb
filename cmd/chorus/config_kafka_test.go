package main

import (
	"strings"
	"testing"
	"time"
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
