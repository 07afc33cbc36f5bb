package redis

import "time"

// SetFeedTimings shortens how long a feed keeps reading an unneeded shard and how often it
// looks, for a test; the returned func restores them.
func SetFeedTimings(idle, sweepEvery time.Duration) (restore func()) {
	oldIdle, oldEvery := feedIdle, feedSweepEvery
	feedIdle, feedSweepEvery = idle, sweepEvery
	return func() { feedIdle, feedSweepEvery = oldIdle, oldEvery }
}
