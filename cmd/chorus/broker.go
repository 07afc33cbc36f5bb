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
	if err := kafka.EnsureTopics(kafkaConfig(cfg, []string{b.Addr()})); err != nil {
		return err
	}
	log.Info("embedded broker listening", "addr", b.Addr(), "data_dir", filepath.Join(cfg.DataDir, "kafka"), "sync_writes", cfg.KafkaSyncWrites)
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

func kafkaConfig(cfg Config, brokers []string) kafka.Config {
	return kafka.Config{
		Brokers: brokers, Topics: kafka.DefaultTopics().WithSuffix(cfg.TopicSuffix), Partitions: cfg.Partitions,
		Replication: cfg.Replication, MinInSyncReplicas: cfg.MinInSyncReplicas, TransactionTimeout: cfg.TransactionTimeout,
		ClientID: "chorus-" + cfg.InstanceID, SessionTimeout: cfg.KafkaSession, Heartbeat: cfg.KafkaHeartbeat,
		SnapshotEvery: cfg.kafkaSnapshotEvery(),
	}
}
