package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/chorus-chat/chorus/adapters/kafka"
)

// runBroker runs the embedded broker alone until ctx ends, with every topic created.
func runBroker(ctx context.Context, cfg Config, addr string, log *slog.Logger) error {
	b, err := startEmbeddedBroker(cfg, addr)
	if err != nil {
		return err
	}
	defer b.Close()
	kcfg := kafkaConfig(cfg, []string{b.Addr()})
	if kcfg.Partitions, err = settleTopics(kcfg, log); err != nil {
		return err
	}
	log.Info("embedded broker listening", "addr", b.Addr(), "data_dir", filepath.Join(cfg.DataDir, "kafka"), "sync_writes", cfg.KafkaSyncWrites,
		"partitions", kcfg.Partitions)
	<-ctx.Done()
	log.Info("embedded broker stopping")
	return nil
}

func startEmbeddedBroker(cfg Config, addr string) (*kafka.EmbeddedBroker, error) {
	b, err := kafka.StartEmbedded(kafka.EmbeddedOptions{
		Addr: addr, DataDir: filepath.Join(cfg.DataDir, "kafka"), SyncWrites: cfg.KafkaSyncWrites,
		MinSessionTimeout: cfg.MinSessionTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return b, nil
}

// kafkaConfig is the Kafka configuration of cfg against brokers; its partition count is 0 when
// CHORUS_PARTITIONS is unset (settleTopics settles it).
func kafkaConfig(cfg Config, brokers []string) kafka.Config {
	return kafka.Config{
		Brokers: brokers, Topics: kafka.DefaultTopics().WithSuffix(cfg.TopicSuffix), Partitions: cfg.Partitions,
		Replication: cfg.Replication, MinInSyncReplicas: cfg.MinInSyncReplicas, TransactionTimeout: cfg.TransactionTimeout,
		ClientID: "chorus-" + cfg.InstanceID, SessionTimeout: cfg.KafkaSession, Heartbeat: cfg.KafkaHeartbeat,
		SnapshotEvery: cfg.kafkaSnapshotEvery(),
	}
}

// settleTopics makes and checks the deployment's topics (kafka.SettleTopics) and returns their
// partition count: CHORUS_PARTITIONS when set (existing topics of another count are refused),
// else the existing topics' count, so that no process of a deployment need repeat it and a data
// directory made with another default keeps working, else kafka.DefaultPartitions.
func settleTopics(kcfg kafka.Config, log *slog.Logger) (int32, error) {
	n, byDefault, err := kafka.SettleTopics(kcfg)
	if err != nil {
		return 0, err
	}
	if byDefault {
		log.Info("no topics yet: made them with the default partition count (CHORUS_PARTITIONS names another; docs/operations.md, Choosing the partition count)",
			"partitions", n)
	}
	return n, nil
}
