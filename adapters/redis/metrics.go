package redis

import "github.com/chorus-chat/chorus/adapters/metrics"

// UseMetrics has the reply bus count its failed publishes and subscriptions in m (nil turns
// counting off).
func (r *Replies) UseMetrics(m *metrics.Metrics) *Replies {
	r.met = m
	return r
}

// UseMetrics has the push stream, and the publishers it opens afterwards, count their failed
// appends and subscriptions in m (nil turns counting off).
func (p *Pushes) UseMetrics(m *metrics.Metrics) *Pushes {
	p.met = m
	return p
}
