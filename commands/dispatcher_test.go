package commands_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

// logFunc adapts a function to commands.CommandLog.
type logFunc func(ctx context.Context, cmd domain.Command, replyTo string) error

func (f logFunc) Append(ctx context.Context, cmd domain.Command, replyTo string) error {
	return f(ctx, cmd, replyTo)
}

func TestDispatchWaitsForItsReply(t *testing.T) {
	var d *commands.Dispatcher
	d = commands.NewDispatcher(logFunc(func(_ context.Context, cmd domain.Command, replyTo string) error {
		if replyTo != "gw-1" {
			t.Errorf("reply address %q", replyTo)
		}
		go d.Resolve(commands.Reply{CommandID: cmd.ID, Accepted: true, Position: "chat-events:0:1"})
		return nil
	}), "gw-1", time.Second)
	r, err := d.Dispatch(context.Background(), send(uuid.New(), uuid.New(), uuid.New(), "x"))
	if err != nil || !r.Accepted || r.Position != "chat-events:0:1" {
		t.Fatalf("got %+v, %v", r, err)
	}
}

func TestDispatchTimesOutAndReportsAnUnreachableLog(t *testing.T) {
	silent := commands.NewDispatcher(logFunc(func(context.Context, domain.Command, string) error { return nil }), "gw", 50*time.Millisecond)
	if _, err := silent.Dispatch(context.Background(), send(uuid.New(), uuid.New(), uuid.New(), "x")); !errors.Is(err, commands.ErrTimeout) {
		t.Fatalf("want ErrTimeout, got %v", err)
	}
	down := commands.NewDispatcher(logFunc(func(context.Context, domain.Command, string) error { return errors.New("broker down") }), "gw", time.Second)
	if _, err := down.Dispatch(context.Background(), send(uuid.New(), uuid.New(), uuid.New(), "x")); !errors.Is(err, commands.ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
}

// An append that hangs (the broker cut off by the network) is bounded by the same timeout as
// the reply, not by the Kafka client's own (tens of seconds).
func TestDispatchTimesOutWhileTheAppendHangs(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	hung := commands.NewDispatcher(logFunc(func(context.Context, domain.Command, string) error { <-release; return nil }), "gw", 100*time.Millisecond)
	start := time.Now()
	_, err := hung.Dispatch(context.Background(), send(uuid.New(), uuid.New(), uuid.New(), "x"))
	if !errors.Is(err, commands.ErrTimeout) || time.Since(start) > 2*time.Second {
		t.Fatalf("want ErrTimeout after about 100 ms, got %v after %v", err, time.Since(start))
	}
}

func TestConcurrentDispatchesOfOneCommandAllGetTheReply(t *testing.T) {
	cmd := send(uuid.New(), uuid.New(), uuid.New(), "x")
	appended := make(chan struct{}, 2)
	d := commands.NewDispatcher(logFunc(func(context.Context, domain.Command, string) error {
		appended <- struct{}{}
		return nil
	}), "gw", 2*time.Second)
	var wg sync.WaitGroup
	results := make(chan commands.Reply, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := d.Dispatch(context.Background(), cmd)
			if err != nil {
				t.Error(err)
			}
			results <- r
		}()
	}
	<-appended
	<-appended
	d.Resolve(commands.Reply{CommandID: cmd.ID, Accepted: true})
	wg.Wait()
	close(results)
	for r := range results {
		if !r.Accepted {
			t.Fatalf("a waiter missed the reply: %+v", r)
		}
	}
}
