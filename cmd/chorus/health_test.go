package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/adapters/redis"
)

// stuckProjection fails every batch while stuck is set, like the notifications projector that
// retried a record with a NUL for ever; it cannot skip records, so it keeps failing.
type stuckProjection struct{ stuck atomic.Bool }

func (s *stuckProjection) Checkpoints(context.Context) (map[string]map[int32]int64, error) {
	return nil, nil
}

func (s *stuckProjection) Handle(context.Context, []kafka.Record) error {
	if s.stuck.Load() {
		return errors.New("insert: invalid byte sequence")
	}
	return nil
}

type readiness struct {
	Ready       bool `json:"ready"`
	Degraded    bool `json:"degraded"`
	Projections map[string]struct {
		Status   string `json:"status"`
		Failures int64  `json:"failures"`
		Since    string `json:"since"`
		Error    string `json:"error"`
	} `json:"projections"`
}

// A projection that keeps failing shows in /readyz: listed failing with its error, the answer
// degraded, but still 200 (see health). It is listed ok again once it recovers.
func TestReadyzReportsAFailingProjection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := kafka.StartEmbedded(kafka.EmbeddedOptions{Addr: "127.0.0.1:0", DataDir: t.TempDir(), MinSessionTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	kcfg := kafka.Config{Brokers: []string{b.Addr()}, Topics: kafka.DefaultTopics(), Partitions: 1, SessionTimeout: 1500 * time.Millisecond, Heartbeat: 300 * time.Millisecond}
	if err := kafka.EnsureTopics(kcfg); err != nil {
		t.Fatal(err)
	}
	r, err := redis.StartEmbedded("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	rconn, err := redis.Dial(ctx, r.URL(), "health-test")
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHealth(kcfg, pgtest.New(t), rconn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.close)
	get := func() (int, readiness, string) {
		t.Helper()
		e := echo.New()
		e.GET("/readyz", h.handler)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		var body readiness
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("/readyz %s: %v", rec.Body, err)
		}
		return rec.Code, body, rec.Body.String()
	}

	proj := &stuckProjection{}
	proj.stuck.Store(true)
	p := kafka.NewProjector(kcfg, "chorus-projector-health-test", []string{kcfg.Topics.ChatEvents}, proj, slog.New(slog.DiscardHandler)).WithDeadLetters("stuck", 1)
	h.watch(p)
	if code, body, raw := get(); code != http.StatusOK || body.Degraded || body.Projections["stuck"].Status != "ok" {
		t.Fatalf("before any record: %d %s", code, raw)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	produceOne(t, kcfg)

	waitFor(t, "the projection listed failing", func() bool {
		_, body, _ := get()
		return body.Projections["stuck"].Status == "failing"
	})
	code, body, raw := get()
	ph := body.Projections["stuck"]
	if code != http.StatusOK || !body.Ready || !body.Degraded || ph.Failures < 1 || ph.Since == "" || ph.Error != "insert: invalid byte sequence" {
		t.Fatalf("while failing: %d %s", code, raw)
	}
	proj.stuck.Store(false)
	waitFor(t, "the projection listed ok again", func() bool {
		_, body, _ := get()
		return body.Projections["stuck"].Status == "ok" && !body.Degraded
	})
}

func produceOne(t *testing.T, kcfg kafka.Config) {
	t.Helper()
	sc := kcfg.Sarama()
	p, err := sarama.NewSyncProducer(kcfg.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: kcfg.Topics.ChatEvents, Value: sarama.StringEncoder("{}")}); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
