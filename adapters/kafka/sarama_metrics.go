package kafka

import gometrics "github.com/rcrowley/go-metrics"

// Sarama measures every request, response and record in go-metrics histograms that Chorus never
// reads (its own figures are Prometheus metrics, adapters/metrics): profiled at 1,000 messages/s,
// updating them was about 5% of the all-in-one process's CPU. Sarama's documented switch turns
// them into no-ops for every Sarama client of the process, watermill-kafka's included.
func init() { gometrics.UseNilMetrics = true }
