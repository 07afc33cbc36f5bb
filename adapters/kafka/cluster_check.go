package kafka

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// What a multi-broker cluster must be set to for the command processors' guarantees (an
// acknowledged command's events survive the loss of a broker, a transaction's outcome is never
// forgotten), and the check `chorus` makes of it at start. Chorus sets what it can (its topics'
// replication factor and min.insync.replicas, acks=all, idempotent transactional producers);
// the rest is the brokers' configuration, which it can only read (DescribeConfigs) and warn
// about.

// brokerSettings are the broker configs the check reads.
var brokerSettings = []string{
	"default.replication.factor", "min.insync.replicas", "unclean.leader.election.enable",
	"offsets.topic.replication.factor", "transaction.state.log.replication.factor", "transaction.state.log.min.isr",
	"transaction.max.timeout.ms", "group.min.session.timeout.ms", "group.max.session.timeout.ms",
}

// ClusterFacts is what CheckCluster learned of a cluster: the number of brokers, each broker's
// settings (a setting it did not report is absent) and the existing topics among those checked.
type ClusterFacts struct {
	Brokers  int
	Settings map[int32]map[string]string
	Topics   map[string]sarama.TopicDetail // ConfigEntries: the topic's own (non-default) settings
}

// CheckCluster reads the cluster's settings and returns the warnings Settings finds (a
// warning too if they cannot be read: the check is advice) and an error only for a setting that
// keeps Chorus from working at all (Problems).
func CheckCluster(c Config) (warnings []string, err error) {
	admin, err := sarama.NewClusterAdmin(c.Brokers, c.Sarama())
	if err != nil {
		return nil, fmt.Errorf("kafka admin: %w", err)
	}
	defer admin.Close()
	facts, err := readCluster(admin, c.Topics.All())
	if err != nil {
		return []string{"could not read the Kafka cluster's settings to check them: " + err.Error()}, nil
	}
	warnings, fatal := facts.Problems(c)
	if len(fatal) > 0 {
		return warnings, fmt.Errorf("kafka: %s", strings.Join(fatal, "; "))
	}
	return warnings, nil
}

func readCluster(admin sarama.ClusterAdmin, topics []string) (ClusterFacts, error) {
	brokers, _, err := admin.DescribeCluster()
	if err != nil {
		return ClusterFacts{}, fmt.Errorf("describe cluster: %w", err)
	}
	f := ClusterFacts{Brokers: len(brokers), Settings: map[int32]map[string]string{}, Topics: map[string]sarama.TopicDetail{}}
	for _, b := range brokers {
		res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{
			Type: sarama.BrokerResource, Name: strconv.Itoa(int(b.ID())), ConfigNames: brokerSettings,
		}}, sarama.DescribeConfigsOptions{})
		if err != nil {
			return f, fmt.Errorf("describe broker %d: %w", b.ID(), err)
		}
		settings := map[string]string{}
		for _, r := range res {
			if r.ErrorCode != 0 {
				return f, fmt.Errorf("describe broker %d: %s", b.ID(), r.ErrorMsg)
			}
			for _, e := range r.Configs {
				settings[e.Name] = e.Value
			}
		}
		f.Settings[b.ID()] = settings
	}
	existing, err := admin.ListTopics()
	if err != nil {
		return f, fmt.Errorf("list topics: %w", err)
	}
	for _, t := range topics {
		if d, ok := existing[t]; ok {
			f.Topics[t] = d
		}
	}
	return f, nil
}

// Problems compares the facts with what c asks. Warnings: a deployment that asks for
// replication (CHORUS_KAFKA_REPLICATION > 1) on brokers or topics that would lose acknowledged
// events or transaction outcomes when one broker fails, and group session timeouts the brokers
// refuse. Fatal: a transaction timeout the brokers refuse (no command processor could start).
func (f ClusterFacts) Problems(c Config) (warnings, fatal []string) {
	want, wantISR := int(max(c.Replication, 1)), int(c.MinISR())
	production := want > 1
	if production && f.Brokers < want {
		warnings = append(warnings, fmt.Sprintf("the cluster has %d brokers, fewer than CHORUS_KAFKA_REPLICATION=%d", f.Brokers, want))
	}
	byMessage := map[string][]string{}
	var order []string
	note := func(broker int32, msg string) {
		if _, ok := byMessage[msg]; !ok {
			order = append(order, msg)
		}
		byMessage[msg] = append(byMessage[msg], strconv.Itoa(int(broker)))
	}
	atLeast := func(broker int32, s map[string]string, name string, least int, why string) {
		v, ok := s[name]
		n, err := strconv.Atoi(v)
		switch {
		case !ok:
			note(broker, fmt.Sprintf("the brokers do not report %s: make sure it is at least %d (%s)", name, least, why))
		case err != nil || n < least:
			note(broker, fmt.Sprintf("broker setting %s is %s, want at least %d (%s)", name, v, least, why))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(f.Settings)) {
		s := f.Settings[id]
		if production {
			atLeast(id, s, "transaction.state.log.replication.factor", want, "a transaction's outcome must survive a broker")
			atLeast(id, s, "transaction.state.log.min.isr", wantISR, "a commit must be on more than one broker")
			atLeast(id, s, "offsets.topic.replication.factor", want, "the command processors' committed offsets")
			atLeast(id, s, "default.replication.factor", want, "topics created by anyone else")
			atLeast(id, s, "min.insync.replicas", wantISR, "acks=all must mean more than one broker")
			if s["unclean.leader.election.enable"] == "true" {
				note(id, "broker setting unclean.leader.election.enable is true: a lagging replica may become leader and drop acknowledged events")
			}
		}
		if v, err := strconv.Atoi(s["transaction.max.timeout.ms"]); err == nil && time.Duration(v)*time.Millisecond < c.TxnTimeout() {
			fatal = append(fatal, fmt.Sprintf("broker %d refuses transactions longer than transaction.max.timeout.ms=%d ms, "+
				"less than CHORUS_KAFKA_TRANSACTION_TIMEOUT=%v: lower the setting or raise the broker's", id, v, c.TxnTimeout()))
		}
		if c.SessionTimeout > 0 {
			if v, err := strconv.Atoi(s["group.min.session.timeout.ms"]); err == nil && c.SessionTimeout < time.Duration(v)*time.Millisecond {
				note(id, fmt.Sprintf("CHORUS_KAFKA_SESSION_TIMEOUT=%v is below the broker's group.min.session.timeout.ms=%d ms: consumers cannot join their groups", c.SessionTimeout, v))
			}
			if v, err := strconv.Atoi(s["group.max.session.timeout.ms"]); err == nil && c.SessionTimeout > time.Duration(v)*time.Millisecond {
				note(id, fmt.Sprintf("CHORUS_KAFKA_SESSION_TIMEOUT=%v is above the broker's group.max.session.timeout.ms=%d ms: consumers cannot join their groups", c.SessionTimeout, v))
			}
		}
	}
	for _, msg := range order {
		ids := byMessage[msg]
		if len(ids) == len(f.Settings) {
			warnings = append(warnings, msg)
		} else {
			warnings = append(warnings, msg+" (broker "+strings.Join(ids, ", ")+")")
		}
	}
	if production {
		warnings = append(warnings, f.topicProblems(want, wantISR)...)
	}
	return warnings, fatal
}

// topicProblems are the existing topics' replication and settings below what is asked: Chorus
// sets them only on the topics it creates.
func (f ClusterFacts) topicProblems(want, wantISR int) []string {
	var out []string
	brokerISR := func() (string, bool) {
		for _, s := range f.Settings {
			v, ok := s["min.insync.replicas"]
			return v, ok
		}
		return "", false
	}
	for _, t := range slices.Sorted(maps.Keys(f.Topics)) {
		d := f.Topics[t]
		if int(d.ReplicationFactor) < want {
			out = append(out, fmt.Sprintf("topic %s has replication factor %d, want %d (kafka-reassign-partitions.sh can add replicas)", t, d.ReplicationFactor, want))
		}
		isr, ok := "", false
		if v := d.ConfigEntries["min.insync.replicas"]; v != nil {
			isr, ok = *v, true
		} else {
			isr, ok = brokerISR()
		}
		if n, err := strconv.Atoi(isr); ok && (err != nil || n < wantISR) {
			out = append(out, fmt.Sprintf("topic %s has min.insync.replicas %s, want %d (kafka-configs.sh --alter --add-config min.insync.replicas=%d)", t, isr, wantISR, wantISR))
		}
		if v := d.ConfigEntries["unclean.leader.election.enable"]; v != nil && *v == "true" {
			out = append(out, fmt.Sprintf("topic %s has unclean.leader.election.enable=true: a lagging replica may become leader and drop acknowledged events", t))
		}
	}
	return out
}
