package main

import (
	"context"
	"time"

	"github.com/chorus-chat/chorus/adapters/metrics"
)

// overviewMetrics are the figures GET /api/v1/admin/overview shows, by their names in /metrics.
var overviewMetrics = []string{
	"chorus_websocket_connections",
	"chorus_commands_sent_total",
	"chorus_commands_total",
	"chorus_pushes_delivered_total",
	"chorus_http_requests_total",
	"chorus_websocket_frames_total",
	"chorus_projector_records_total",
	"chorus_projector_dead_letters_total",
	"chorus_kafka_errors_total",
	"chorus_redis_errors_total",
}

// overview answers the admin overview from what /readyz and /metrics answer: the same health
// checks and the same registry, read when asked.
type overview struct {
	instance string
	roles    []string
	health   *health
	met      *metrics.Metrics
}

func (o overview) Overview(ctx context.Context) (any, error) {
	body := o.health.report(ctx)
	sums, err := o.met.Sums(overviewMetrics...)
	if err != nil {
		return nil, err
	}
	body["instance"], body["roles"], body["metrics"], body["at"] = o.instance, o.roles, sums, time.Now().UTC()
	return body, nil
}
