package redis

import "time"

// FeedTimings shortens how long the feeds of p keep reading an unneeded shard and how often they
// look, for a test.
func (p *Pushes) FeedTimings(idle, sweepEvery time.Duration) *Pushes {
	p.idle, p.sweepEvery = idle, sweepEvery
	return p
}
