package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

// kafkaRoundTrip times produce → consume of single records on the same broker Chorus uses: the
// floor under any delivery through the event log.
func kafkaRoundTrip(addr string, n int) (*samples, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Consumer.MaxWaitTime = 50 * time.Millisecond
	const topic = "bench-roundtrip"
	admin, err := sarama.NewClusterAdmin([]string{addr}, cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka admin: %w", err)
	}
	_ = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
	admin.Close()
	// Producer and consumer on separate connections: a broker serves one connection's requests
	// in order, so a produce would wait behind the consumer's long-poll fetch.
	consumer, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetNewest)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	producer, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		return nil, err
	}
	defer producer.Close()
	s := &samples{}
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(strconv.Itoa(i))}); err != nil {
			return nil, err
		}
		select {
		case <-pc.Messages():
			s.add(time.Since(start))
		case <-time.After(5 * time.Second):
			return nil, fmt.Errorf("round trip %d: no record within 5 s", i)
		}
	}
	return s, nil
}
