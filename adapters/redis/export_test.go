package redis

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/projections"
)

// FeedTimings shortens how long the feeds of p keep reading an unneeded shard and how often they
// look, for a test.
func (p *Pushes) FeedTimings(idle, sweepEvery time.Duration) *Pushes {
	p.idle, p.sweepEvery = idle, sweepEvery
	return p
}

// Subscribe reads every push appended after it returns, as a gateway's feed reads them with one
// shard, and hands each to deliver.
func (p *Pushes) Subscribe(ctx context.Context, deliver func(projections.Push)) error {
	_, err := p.Route(ctx, deliverSink(deliver))
	return err
}

// deliverSink is a gateway that only delivers: it holds no sockets.
type deliverSink func(projections.Push)

func (d deliverSink) Deliver(p projections.Push)                          { d(p) }
func (deliverSink) HasUser(uuid.UUID) bool                                { return false }
func (deliverSink) JoinedUnread(uuid.UUID, uuid.UUID, []projections.Push) {}
func (deliverSink) Interest(func(uuid.UUID), func(uuid.UUID))             {}

// Streams lists the streams the feed reads.
func (f *Feed) Streams() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.readers))
	for s := range f.readers {
		out = append(out, s)
	}
	return out
}
