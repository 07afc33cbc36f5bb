package kafka

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/IBM/sarama"

	"github.com/chorus-chat/chorus/projections/notify"
)

// NotificationLog appends NotificationCreated records to notification-events, keyed by user id
// (so one user's records stay in order on one partition): the notification relay's log
// (notify.Log).
type NotificationLog struct {
	topic    string
	producer sarama.SyncProducer
}

// NewNotificationLog opens a producer to cfg's notification topic. Close it.
func NewNotificationLog(cfg Config) (*NotificationLog, error) {
	p, err := sarama.NewSyncProducer(cfg.Brokers, cfg.Sarama())
	if err != nil {
		return nil, fmt.Errorf("notification-events producer: %w", err)
	}
	return &NotificationLog{topic: cfg.Topics.Notifications, producer: p}, nil
}

// Append sends recs in one request and returns once the brokers have them.
func (l *NotificationLog) Append(_ context.Context, recs []notify.Created) error {
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode notification record: %w", err)
		}
		msgs[i] = &sarama.ProducerMessage{
			Topic: l.topic, Key: sarama.StringEncoder(r.UserID.String()), Value: sarama.ByteEncoder(b), Timestamp: r.OccurredAt,
		}
	}
	if err := l.producer.SendMessages(msgs); err != nil {
		return fmt.Errorf("append to %s: %w", l.topic, err)
	}
	return nil
}

// Close closes the producer.
func (l *NotificationLog) Close() error { return l.producer.Close() }
