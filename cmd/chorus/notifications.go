package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/gateway"
	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/metrics"
	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/projections/notify"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// setupNotifications wires notifications and system events into the roles this process runs:
// with the projectors role, the notification projector (its own group on chat-events and
// system-events) and the relay that announces what it commits; with the gateway role, the
// notification store the gateway answers from and the admins who may publish system events.
// Closers are appended to cleanups.
func setupNotifications(cfg Config, kcfg kafka.Config, pool *pgxpool.Pool, rconn *redis.Conn, pushMaxLen int64,
	roles map[string]bool, deps *gateway.Deps, run func(string, func(context.Context) error), cleanups *[]func(), met *metrics.Metrics, watch func(*kafka.Projector), log *slog.Logger,
) error {
	store := notify.NewStore(pool, kcfg.Topics.ChatEvents, kcfg.Topics.SystemEvents)
	if roles[roleProjectors] && cfg.runs(ops.Notifications) {
		pushes, err := redis.NewPushes(rconn, pushMaxLen, log).UseMetrics(met).Publisher()
		if err != nil {
			return err
		}
		*cleanups = append(*cleanups, func() { _ = pushes.Close() })
		records, err := newNotificationLog(kcfg)
		if err != nil {
			return err
		}
		*cleanups = append(*cleanups, func() { _ = records.Close() })
		proj := kafka.NewProjector(kcfg, ops.Notifications.Group(), ops.Notifications.Topics(kcfg.Topics),
			&notificationHandler{store: store, dead: deadLetters(pool, readmodel.NewStore(pool))}, log).WithDeadLetters(notify.Projection, cfg.ProjectorAttempts).
			WithFailures(failureLog{pool: pool, instance: cfg.InstanceID}).UseMetrics(met).Gathering(gatherBytes, gatherWait)
		watch(proj)
		run("projector-notifications", proj.Run)
		run("notification-relay", notify.NewRelay(store, records, pushes, log).Run)
	}
	if deps != nil {
		deps.Notifications, deps.Admins = store, cfg.AdminUsers
	}
	return nil
}

// notificationHandler projects events into notifications, checkpoint in the same transaction.
// A record it cannot project is dead-lettered by the runner and skipped (Skip), like the read
// model's: without Skip one such record stopped the notifications of its whole partition, the
// projector retrying it for ever.
type notificationHandler struct {
	store *notify.Store
	dead  deadLetterLog
}

func (h *notificationHandler) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return h.store.Checkpoints(ctx)
}

func (h *notificationHandler) Handle(ctx context.Context, recs []kafka.Record) error {
	rs, err := decodeRecords(recs)
	if err != nil {
		return err
	}
	return storeError(h.store.ApplyBatch(ctx, rs))
}

// Skip moves the notifications' checkpoint past a dead-lettered record.
func (h *notificationHandler) Skip(ctx context.Context, rec kafka.Record, cause error) error {
	return h.dead.skip(ctx, notify.Projection, rec, cause)
}

// notificationLog appends NotificationCreated records to notification-events, keyed by user
// id (so one user's records stay in order on one partition).
type notificationLog struct {
	topic    string
	producer sarama.SyncProducer
}

func newNotificationLog(kcfg kafka.Config) (*notificationLog, error) {
	p, err := sarama.NewSyncProducer(kcfg.Brokers, kcfg.Sarama())
	if err != nil {
		return nil, fmt.Errorf("notification-events producer: %w", err)
	}
	return &notificationLog{topic: kcfg.Topics.Notifications, producer: p}, nil
}

func (l *notificationLog) Append(_ context.Context, recs []notify.Created) error {
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

func (l *notificationLog) Close() error { return l.producer.Close() }
