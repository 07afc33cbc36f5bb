package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

// Record is one committed data record read from a partition.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Timestamp time.Time
	Headers   []*sarama.RecordHeader
}

// ReadCommitted reads partition p of topic from offset `from` up to the partition's last stable
// offset as it is when the call starts, read committed, calling fn for every data record in
// offset order. It stops exactly at the end: it issues fetch requests itself rather than use a
// Sarama PartitionConsumer, because with read_committed the last offsets before the end are
// transaction markers that a consumer never delivers, so "wait for offset end-1" would hang and
// an idle timeout could stop short. It returns the offset after the last record it passed.
func ReadCommitted(ctx context.Context, client sarama.Client, topic string, p int32, from int64, fn func(Record) error) (int64, error) {
	broker, err := client.Leader(topic, p)
	if err != nil {
		return from, fmt.Errorf("leader of %s/%d: %w", topic, p, err)
	}
	end, err := lastStableOffset(broker, topic, p)
	if reopenIfBroken(broker, client.Config(), err) {
		end, err = lastStableOffset(broker, topic, p)
	}
	if err != nil {
		return from, err
	}
	if from < 0 {
		from = 0
	}
	maxBytes := int32(4 << 20)
	for from < end {
		if err := ctx.Err(); err != nil {
			return from, err
		}
		req := &sarama.FetchRequest{Version: 11, MaxWaitTime: 100, MinBytes: 1, MaxBytes: maxBytes, Isolation: sarama.ReadCommitted}
		req.AddBlock(topic, p, from, maxBytes, -1)
		resp, err := broker.Fetch(req)
		if reopenIfBroken(broker, client.Config(), err) {
			resp, err = broker.Fetch(req)
		}
		if err != nil {
			return from, fmt.Errorf("fetch %s/%d at %d: %w", topic, p, from, err)
		}
		block := resp.GetBlock(topic, p)
		if block == nil {
			return from, fmt.Errorf("fetch %s/%d: no block in response", topic, p)
		}
		if block.Err != sarama.ErrNoError {
			return from, fmt.Errorf("fetch %s/%d at %d: %w", topic, p, from, block.Err)
		}
		next, n, partial, err := passBatches(topic, p, from, block, end, fn)
		if err != nil {
			return next, err
		}
		if next == from && n == 0 {
			if partial && maxBytes < 256<<20 {
				maxBytes *= 2 // one batch is larger than we asked for
				continue
			}
			if block.HighWaterMarkOffset <= from {
				return from, fmt.Errorf("fetch %s/%d: log ends at %d before the stable offset %d", topic, p, block.HighWaterMarkOffset, end)
			}
		}
		from = next
	}
	return from, nil
}

// passBatches applies one fetch response block: data records of committed transactions go to fn;
// control batches and aborted transactions are skipped. It mirrors Sarama's consumer's filter.
func passBatches(topic string, p int32, from int64, block *sarama.FetchResponseBlock, end int64, fn func(Record) error) (next int64, n int, partial bool, err error) {
	next = from
	aborted := append([]*sarama.AbortedTransaction(nil), block.AbortedTransactions...)
	sort.Slice(aborted, func(i, j int) bool { return aborted[i].FirstOffset < aborted[j].FirstOffset })
	abortedPIDs := map[int64]bool{}
	for _, rs := range block.RecordsSet {
		b := rs.RecordBatch
		if b == nil {
			continue // legacy message sets never carry transactions; Chorus writes none
		}
		if b.PartialTrailingRecord {
			partial = true // truncated by MaxBytes: fetch it again, whole
			break
		}
		last := b.FirstOffset + int64(b.LastOffsetDelta)
		for len(aborted) > 0 && aborted[0].FirstOffset <= last {
			abortedPIDs[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		switch {
		case b.Control:
			if len(b.Records) > 0 && len(b.Records[0].Key) >= 4 && binary.BigEndian.Uint16(b.Records[0].Key[2:4]) == 0 {
				delete(abortedPIDs, b.ProducerID) // an abort marker ends that producer's aborted txn
			}
		case b.IsTransactional && abortedPIDs[b.ProducerID]:
		default:
			for _, r := range b.Records {
				off := b.FirstOffset + r.OffsetDelta
				if off < from || off >= end {
					continue
				}
				rec := Record{Topic: topic, Partition: p, Offset: off, Key: r.Key, Value: r.Value, Timestamp: b.FirstTimestamp.Add(r.TimestampDelta), Headers: r.Headers}
				if err := fn(rec); err != nil {
					return off, n, partial, err
				}
				n++
			}
		}
		if last+1 > next {
			next = last + 1
		}
	}
	if next > end {
		next = end
	}
	return next, n, partial, nil
}

// lastStableOffset asks the leader for the partition's last stable offset (ListOffsets, latest,
// read_committed): everything below it is decided, committed or aborted.
func lastStableOffset(broker *sarama.Broker, topic string, p int32) (int64, error) {
	req := &sarama.OffsetRequest{Version: 5, IsolationLevel: sarama.ReadCommitted}
	req.AddBlock(topic, p, sarama.OffsetNewest, 1)
	resp, err := broker.GetAvailableOffsets(req)
	if err != nil {
		return 0, fmt.Errorf("list offsets %s/%d: %w", topic, p, err)
	}
	b := resp.GetBlock(topic, p)
	if b == nil {
		return 0, fmt.Errorf("list offsets %s/%d: no block", topic, p)
	}
	if b.Err != sarama.ErrNoError {
		return 0, fmt.Errorf("list offsets %s/%d: %w", topic, p, b.Err)
	}
	return b.Offset, nil
}

// brokenConnection tells whether err is the connection to a broker having gone away (the broker
// restarted, the network dropped it) rather than an answer: a request may be sent again once
// the connection is reopened (reopenIfBroken).
func brokenConnection(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, sarama.ErrNotConnected) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.As(err, &ne)
}

// reopenIfBroken reopens b's connection (with the client's configuration) when err says it
// broke, and reports whether it did: a Sarama broker whose connection died stays dead, and the
// client hands out the same broker again. Open does not wait: the next request does.
func reopenIfBroken(b *sarama.Broker, conf *sarama.Config, err error) bool {
	if !brokenConnection(err) {
		return false
	}
	_ = b.Close()
	_ = b.Open(conf)
	return true
}
