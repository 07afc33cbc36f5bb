package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/chorus-chat/chorus/adapters/metrics"
	"github.com/chorus-chat/chorus/domain"
)

const metadataKey = "key"

// CommandLog publishes commands to the command topic with watermill-kafka, keyed by aggregate id
// (Sarama's hash partitioner picks the partition, as PartitionFor computes it), with the reply
// address in a record header.
type CommandLog struct {
	topic     string
	publisher *wkafka.Publisher
	met       *metrics.Metrics // nil: not measured
}

// UseMetrics has the log observe when each command reached the topic (StageProduced).
func (l *CommandLog) UseMetrics(m *metrics.Metrics) *CommandLog {
	l.met = m
	return l
}

// NewCommandLog opens the publisher.
func NewCommandLog(cfg Config, log *slog.Logger) (*CommandLog, error) {
	sc := cfg.Sarama()
	sc.Producer.Flush.MaxMessages = 0
	pub, err := wkafka.NewPublisher(wkafka.PublisherConfig{
		Brokers:               cfg.Brokers,
		OverwriteSaramaConfig: sc,
		Marshaler: wkafka.NewWithPartitioningMarshaler(func(_ string, m *message.Message) (string, error) {
			return m.Metadata.Get(metadataKey), nil
		}),
	}, watermill.NewSlogLogger(log))
	if err != nil {
		return nil, fmt.Errorf("command publisher: %w", err)
	}
	return &CommandLog{topic: cfg.Topics.Commands, publisher: pub}, nil
}

// Append publishes one command and returns once the broker has it.
func (l *CommandLog) Append(ctx context.Context, cmd domain.Command, replyTo string) error {
	b, err := json.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("encode command: %w", err)
	}
	m := message.NewMessage(cmd.ID.String(), b)
	m.Metadata.Set(metadataKey, cmd.AggregateID.String())
	m.Metadata.Set(HeaderReplyTo, replyTo)
	m.SetContext(ctx)
	if err := l.publisher.Publish(l.topic, m); err != nil {
		return err
	}
	l.met.Stage(metrics.StageProduced, cmd.IssuedAt, time.Now())
	return nil
}

// Close flushes and closes the publisher.
func (l *CommandLog) Close() error { return l.publisher.Close() }
