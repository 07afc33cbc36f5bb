// Package metrics defines the Prometheus metrics of a Chorus process in one registry of its own
// (never the global default one) and serves them as /metrics. Every method is safe on a nil
// *Metrics, so the adapters it instruments work unchanged when nobody asked for metrics (tests).
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values of chorus_commands_total's result.
const (
	ResultAccepted = "accepted"
	ResultRejected = "rejected"
)

// Metrics holds every metric of the process and the registry they are registered in.
type Metrics struct {
	reg *prometheus.Registry

	commands        *prometheus.CounterVec
	commandsSent    *prometheus.CounterVec
	commandLatency  prometheus.Histogram
	batchDuration   prometheus.Histogram
	batchSize       prometheus.Histogram
	txnFailures     *prometheus.CounterVec
	projected       *prometheus.CounterVec
	projectDuration *prometheus.HistogramVec
	projectorLag    *prometheus.GaugeVec
	deadLetters     *prometheus.CounterVec
	failing         *prometheus.GaugeVec
	wsConnections   prometheus.Gauge
	wsFrames        *prometheus.CounterVec
	pushes          prometheus.Counter
	pushesRead      prometheus.Counter
	pushStreams     prometheus.Gauge
	pushBytesRead   prometheus.Counter
	pushesLocal     prometheus.Counter
	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	kafkaErrors     *prometheus.CounterVec
	redisErrors     *prometheus.CounterVec
	presenceRecords *prometheus.CounterVec
	reconciled      prometheus.Counter
	stages          *prometheus.HistogramVec
	batchSteps      *prometheus.HistogramVec
	eventAges       *prometheus.HistogramVec
}

// latencyBuckets span a command's path from a millisecond (one batch on a quiet partition) to
// the gateway's command timeout.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// stageBuckets resolve a message's path hop by hop: 100 µs to about 5 s in steps of 30%.
var stageBuckets = prometheus.ExponentialBuckets(0.0001, 1.3, 42)

// Stages of a command on its way from the gateway to its acknowledgement, each observed as the
// time since the command's issued_at (chorus_message_stage_seconds); the push side is observed
// from the event's occurred_at, the time its batch was decided (chorus_event_age_seconds, and
// StagePushRead). Clocks of different machines differ: across machines the figures are only as
// good as their clock sync.
const (
	StageProduced     = "command_produced"     // gateway: the command topic has the record
	StageFetched      = "command_fetched"      // processor: the record's batch starts being decided
	StageCommitted    = "command_committed"    // processor: its transaction committed
	StageReplied      = "command_replied"      // processor: its reply was published
	StageAcknowledged = "command_acknowledged" // gateway: the reply reached the waiting client
	StagePushRead     = "push_read"            // gateway: the push was read from the push stream (since occurred_at)
)

// Steps of a command batch (chorus_command_batch_step_seconds).
const (
	StepDecide = "decide" // decoding and deciding the batch's commands
	StepAppend = "append" // producing its events (within the transaction)
	StepCommit = "commit" // offsets and the commit of the transaction
	StepReply  = "reply"  // publishing the replies
)

// New builds the registry with the Go runtime and process collectors and every Chorus metric.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_commands_total",
			Help: "Commands decided by the command processors of this process, by command type, result (accepted, rejected) and rejection code (empty when accepted).",
		}, []string{"type", "result", "code"}),
		commandsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_commands_sent_total",
			Help: "Commands this gateway sent to the command log and the answer it got, by result (accepted, rejected, failed: unavailable, timeout or canceled).",
		}, []string{"result"}),
		commandLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chorus_command_latency_seconds",
			Help:    "Time from a command's issued_at (set by the gateway) to its reply being sent, after its transaction committed.",
			Buckets: latencyBuckets,
		}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chorus_command_batch_duration_seconds",
			Help:    "Time from the start of deciding a batch of commands to the commit of its transaction.",
			Buckets: latencyBuckets,
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chorus_command_batch_size",
			Help:    "Commands per committed transaction of a command processor.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 … 512 (MaxCommandBatch)
		}),
		txnFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_command_transaction_failures_total",
			Help: "Command batches whose Kafka transaction did not commit, by reason: fenced (a newer owner took the partition) or error.",
		}, []string{"reason"}),
		projected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_projector_records_total",
			Help: "Records handed to a projection and handled (projected or dead-lettered), by projector group.",
		}, []string{"projector"}),
		projectDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chorus_projector_batch_duration_seconds",
			Help:    "Time to handle one batch of records, retries included, by projector group.",
			Buckets: latencyBuckets,
		}, []string{"projector"}),
		projectorLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chorus_projector_lag",
			Help: "Records of a partition not yet handled by a projector of this process: the partition's high-water mark minus the next offset to handle, by projector group, topic and partition.",
		}, []string{"projector", "topic", "partition"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_projector_dead_letters_total",
			Help: "Records a projector gave up on and appended to the dead-letter topic, by projection.",
		}, []string{"projection"}),
		failing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chorus_projection_failing",
			Help: "1 while the last attempt of this process's projector of a projection failed (it is retrying), else 0, by projection.",
		}, []string{"projection"}),
		wsConnections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chorus_websocket_connections",
			Help: "Open WebSocket connections of this gateway.",
		}),
		wsFrames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_websocket_frames_total",
			Help: "WebSocket data frames read from (in) and written to (out) clients.",
		}, []string{"direction"}),
		pushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chorus_pushes_delivered_total",
			Help: "Pushed frames queued on a local socket (one per socket a push reaches); its rate is pushes per second.",
		}),
		pushesRead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chorus_pushes_read_total",
			Help: "Pushes this gateway read from the push stream, whether or not one of its sockets wanted them.",
		}),
		pushStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chorus_push_streams_read",
			Help: "Push streams this gateway reads now: the broadcast stream, and with routed pushes (CHORUS_PUSH_SHARDS > 1) the shards of its sockets' rooms and users.",
		}),
		pushBytesRead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chorus_push_bytes_read_total",
			Help: "Bytes of push stream entries (their JSON payload) this gateway read and decoded.",
		}),
		pushesLocal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chorus_pushes_local_total",
			Help: "Pushes read from the push stream that reached at least one socket of this gateway; chorus_pushes_read_total over this is how many pushes the gateway reads per push it needs.",
		}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chorus_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method and route pattern (a WebSocket's whole life for /ws).",
			Buckets: latencyBuckets,
		}, []string{"method", "route"}),
		kafkaErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_kafka_errors_total",
			Help: "Errors of Kafka clients, by component (command_processor, projector, command_log) and kind (consumer, producer).",
		}, []string{"component", "kind"}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_redis_errors_total",
			Help: "Failed Redis operations, by operation (publish_replies, subscribe_replies, publish_pushes, subscribe_pushes).",
		}, []string{"op"}),
		presenceRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_presence_records_total",
			Help: "Presence transitions a gateway sent to the event log for online time, by outcome (recorded, rejected, failed: given up after retries, dropped: the queue was full).",
		}, []string{"outcome"}),
		reconciled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chorus_presence_reconciled_total",
			Help: "Online sessions a gateway's reconciler found left open (their gateway died and Redis lost their presence) and sent to end at their user's last activity.",
		}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chorus_message_stage_seconds",
			Help:    "Time from a command's issued_at to each stage of its path: command_produced and command_acknowledged at the gateway, command_fetched, command_committed and command_replied at the command processor; push_read: from an event's occurred_at to a gateway reading its push.",
			Buckets: stageBuckets,
		}, []string{"stage"}),
		batchSteps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chorus_command_batch_step_seconds",
			Help:    "Time of each step of a command processor's batch: decide, append (produce the events), commit (offsets and end of the transaction), reply.",
			Buckets: stageBuckets,
		}, []string{"step"}),
		eventAges: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chorus_event_age_seconds",
			Help:    "Time from an event's occurred_at (its command batch being decided) to a projector of this process fetching it (stage fetched) and having applied it (stage applied), by projector group.",
			Buckets: stageBuckets,
		}, []string{"projector", "stage"}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.commands, m.commandsSent, m.commandLatency, m.batchDuration, m.batchSize, m.txnFailures,
		m.projected, m.projectDuration, m.projectorLag, m.deadLetters, m.failing,
		m.wsConnections, m.wsFrames, m.pushes, m.pushesRead, m.pushStreams, m.pushBytesRead, m.pushesLocal, m.httpRequests, m.httpDuration,
		m.kafkaErrors, m.redisErrors, m.presenceRecords, m.reconciled,
		m.stages, m.batchSteps, m.eventAges,
	)
	return m
}

// Registry is the registry the metrics live in, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// CommandDecided counts one decided command; code is the rejection code ("" when accepted).
func (m *Metrics) CommandDecided(commandType string, accepted bool, code string) {
	if m == nil {
		return
	}
	result := ResultAccepted
	if !accepted {
		result = ResultRejected
	}
	m.commands.WithLabelValues(commandType, result, code).Inc()
}

// Label value of chorus_commands_sent_total's result for a command that got no decision.
const ResultFailed = "failed"

// CommandSent counts one command a gateway sent, by the answer it got: accepted or rejected
// by the aggregate, or failed (no decision reached the gateway).
func (m *Metrics) CommandSent(result string) {
	if m != nil {
		m.commandsSent.WithLabelValues(result).Inc()
	}
}

// Sums are the values of the named metrics as /metrics shows them at this moment, each summed
// over its series (a histogram counts its observations); a metric without any series is 0.
// What /metrics serves is read from the same registry, so the two never disagree.
func (m *Metrics) Sums(names ...string) (map[string]float64, error) {
	out := make(map[string]float64, len(names))
	for _, n := range names {
		out[n] = 0
	}
	if m == nil {
		return out, nil
	}
	families, err := m.reg.Gather()
	if err != nil {
		return nil, err
	}
	for _, f := range families {
		if _, ok := out[f.GetName()]; !ok {
			continue
		}
		sum := 0.0
		for _, s := range f.GetMetric() {
			switch {
			case s.Counter != nil:
				sum += s.GetCounter().GetValue()
			case s.Gauge != nil:
				sum += s.GetGauge().GetValue()
			case s.Histogram != nil:
				sum += float64(s.GetHistogram().GetSampleCount())
			case s.Untyped != nil:
				sum += s.GetUntyped().GetValue()
			}
		}
		out[f.GetName()] = sum
	}
	return out, nil
}

// CommandReplied observes one command's time from issued to replied. A zero issuedAt (a command
// that could not be decoded) is not observed.
func (m *Metrics) CommandReplied(issuedAt time.Time, now time.Time) {
	if m == nil || issuedAt.IsZero() {
		return
	}
	m.commandLatency.Observe(max(now.Sub(issuedAt).Seconds(), 0))
}

// BatchCommitted observes one committed batch of commands: its size and decide-to-commit time.
func (m *Metrics) BatchCommitted(size int, took time.Duration) {
	if m == nil {
		return
	}
	m.batchSize.Observe(float64(size))
	m.batchDuration.Observe(took.Seconds())
}

// TransactionFailed counts a batch whose transaction did not commit.
func (m *Metrics) TransactionFailed(fenced bool) {
	if m == nil {
		return
	}
	reason := "error"
	if fenced {
		reason = "fenced"
	}
	m.txnFailures.WithLabelValues(reason).Inc()
}

// Projected counts a handled batch of a projector group and observes its time.
func (m *Metrics) Projected(projector string, records int, took time.Duration) {
	if m == nil {
		return
	}
	m.projected.WithLabelValues(projector).Add(float64(records))
	m.projectDuration.WithLabelValues(projector).Observe(took.Seconds())
}

// ProjectorLag sets how far a projector group is behind on one partition.
func (m *Metrics) ProjectorLag(projector, topic string, partition int32, lag int64) {
	if m == nil {
		return
	}
	m.projectorLag.WithLabelValues(projector, topic, strconv.Itoa(int(partition))).Set(float64(max(lag, 0)))
}

// DeadLettered counts a record a projection gave up on.
func (m *Metrics) DeadLettered(projection string) {
	if m == nil {
		return
	}
	m.deadLetters.WithLabelValues(projection).Inc()
}

// ProjectionWatched makes the failing gauge (at 0) and the dead-letter counter of projection
// exist from its projector's start, so that alerts on them need no absent() clause.
func (m *Metrics) ProjectionWatched(projection string) {
	if m == nil {
		return
	}
	m.failing.WithLabelValues(projection).Set(0)
	m.deadLetters.WithLabelValues(projection)
}

// ProjectionFailing sets whether projection's projector is failing in this process.
func (m *Metrics) ProjectionFailing(projection string, failing bool) {
	if m == nil {
		return
	}
	v := 0.0
	if failing {
		v = 1
	}
	m.failing.WithLabelValues(projection).Set(v)
}

// WebSocketOpened and WebSocketClosed move the open-connections gauge.
func (m *Metrics) WebSocketOpened() {
	if m != nil {
		m.wsConnections.Inc()
	}
}

// WebSocketClosed: see WebSocketOpened.
func (m *Metrics) WebSocketClosed() {
	if m != nil {
		m.wsConnections.Dec()
	}
}

// FrameIn counts a data frame read from a client.
func (m *Metrics) FrameIn() {
	if m != nil {
		m.wsFrames.WithLabelValues("in").Inc()
	}
}

// FrameOut counts a frame written to a client.
func (m *Metrics) FrameOut() {
	if m != nil {
		m.wsFrames.WithLabelValues("out").Inc()
	}
}

// PushDelivered counts a pushed frame queued on one local socket.
func (m *Metrics) PushDelivered() {
	if m != nil {
		m.pushes.Inc()
	}
}

// PushEntryRead counts one push stream entry read: the pushes it held and its payload's bytes.
func (m *Metrics) PushEntryRead(pushes, bytes int) {
	if m != nil {
		m.pushesRead.Add(float64(pushes))
		m.pushBytesRead.Add(float64(bytes))
	}
}

// PushStreamsRead sets how many push streams the gateway reads.
func (m *Metrics) PushStreamsRead(n int) {
	if m != nil {
		m.pushStreams.Set(float64(n))
	}
}

// PushLocal counts a push read that reached at least one local socket.
func (m *Metrics) PushLocal() {
	if m != nil {
		m.pushesLocal.Inc()
	}
}

// HTTPRequest counts an answered request; route is the pattern ("/api/v1/rooms/:id"), not
// the path, so that the series stay few (the caller bounds it: "unmatched" for any path no route
// matched). The method and status come from the client too, so they are bounded here: a method
// other than the standard ones is "other", a status outside 100-599 is "other".
func (m *Metrics) HTTPRequest(method, route string, status int, took time.Duration) {
	if m == nil {
		return
	}
	method = MethodLabel(method)
	m.httpRequests.WithLabelValues(method, route, statusLabel(status)).Inc()
	m.httpDuration.WithLabelValues(method, route).Observe(took.Seconds())
}

// MethodOther is the method label of every request whose method is not a standard one: each
// made-up method would otherwise be a series of its own, and anyone can make up methods.
const MethodOther = "other"

// standardMethods are the methods that are a label of their own (RFC 9110 and PATCH).
var standardMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodConnect: true,
	http.MethodOptions: true, http.MethodTrace: true,
}

// MethodLabel is the label value of an HTTP method: itself when standard, MethodOther otherwise.
func MethodLabel(method string) string {
	if standardMethods[method] {
		return method
	}
	return MethodOther
}

func statusLabel(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status)
}

// KafkaError counts an error of a Kafka client; kind is "consumer" or "producer".
func (m *Metrics) KafkaError(component, kind string) {
	if m != nil {
		m.kafkaErrors.WithLabelValues(component, kind).Inc()
	}
}

// RedisError counts a failed Redis operation.
func (m *Metrics) RedisError(op string) {
	if m != nil {
		m.redisErrors.WithLabelValues(op).Inc()
	}
}

// PresenceRecord counts a presence transition sent for online time, by outcome.
func (m *Metrics) PresenceRecord(outcome string) {
	if m != nil {
		m.presenceRecords.WithLabelValues(outcome).Inc()
	}
}

// PresenceReconciled counts online sessions a reconciler sent to end.
func (m *Metrics) PresenceReconciled(n int) {
	if m != nil {
		m.reconciled.Add(float64(n))
	}
}

// Stage observes the time from since (a command's issued_at, or for StagePushRead an event's
// occurred_at) to now at one stage of a message's path. A zero since is not observed.
func (m *Metrics) Stage(stage string, since, now time.Time) {
	if m == nil || since.IsZero() {
		return
	}
	m.stages.WithLabelValues(stage).Observe(max(now.Sub(since).Seconds(), 0))
}

// BatchStep observes one step of a command batch.
func (m *Metrics) BatchStep(step string, took time.Duration) {
	if m != nil {
		m.batchSteps.WithLabelValues(step).Observe(took.Seconds())
	}
}

// EventAges observes, for a projector group, the age of each event (since its occurred_at) at
// one stage, "fetched" or "applied"; zero times are skipped.
func (m *Metrics) EventAges(projector, stage string, occurred []time.Time, now time.Time) {
	if m == nil {
		return
	}
	o := m.eventAges.WithLabelValues(projector, stage)
	for _, t := range occurred {
		if !t.IsZero() {
			o.Observe(max(now.Sub(t).Seconds(), 0))
		}
	}
}
