package main

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// repartitionCmd copies the logs into topics with another partition count: the migration of
// docs/operations.md (Changing the partition count).
type repartitionCmd struct {
	Partitions  int32  `name:"partitions" required:"" help:"Partition count of the new topics."`
	ToSuffix    string `name:"to-suffix" required:"" placeholder:"SUFFIX" help:"The new topics are the current names (with --topic-suffix) followed by this, e.g. .p24; then set CHORUS_TOPIC_SUFFIX to the same."`
	Replication int16  `name:"replication" env:"CHORUS_KAFKA_REPLICATION" default:"1" help:"Replication factor of the new topics."`
	MinISR      int16  `name:"min-insync-replicas" env:"CHORUS_KAFKA_MIN_INSYNC_REPLICAS" default:"0" help:"min.insync.replicas of the new topics; 0: replication minus one, at least 1."`
	Live        bool   `name:"live" help:"Copy even though command processors run or commands wait undecided; run it again once they are stopped to copy the rest."`
	Batch       int    `name:"batch" default:"2000" help:"Records per transaction."`
	PushFrom    string `name:"push-from" enum:"end,start" default:"end" help:"Where the push projection starts on the new topics: end (its checkpoints are set to their ends in the database, so that nothing is pushed again) or start (the whole history is pushed again)."`
	NoProgress  bool   `name:"no-progress" help:"No progress bar (it is only shown when standard error is a terminal)."`
}

func (c *repartitionCmd) Validate() error {
	switch {
	case c.Partitions < 1:
		return usagef("--partitions must be at least 1")
	case c.ToSuffix == "":
		return usagef("--to-suffix must not be empty: the new topics need other names")
	case c.Replication < 1 || c.MinISR < 0 || c.MinISR > c.Replication:
		return usagef("--replication must be at least 1 and --min-insync-replicas between 0 and it")
	case c.Batch <= 0:
		return usagef("--batch must be positive")
	}
	if err := kafka.CheckTopicSuffix(c.ToSuffix); err != nil {
		return usagef("--to-suffix: %v", err)
	}
	return nil
}

func (c *repartitionCmd) Run(e *env) error {
	cfg := e.kafkaConfig()
	cfg.Replication, cfg.MinInSyncReplicas = c.Replication, c.MinISR
	to := kafka.DefaultTopics().WithSuffix(e.g.TopicSuffix + c.ToSuffix)
	members, undecided, err := kafka.CommandsPending(cfg)
	if err != nil {
		return err
	}
	if (members > 0 || undecided > 0) && !c.Live {
		return fmt.Errorf("command processors are running (%d in group %s) or commands wait undecided (%d in %s): "+
			"stop the gateways, let the processors decide what is left, stop them, and run this again (--live copies anyway, to be run again after)",
			members, kafka.CommandGroup, undecided, cfg.Topics.Commands)
	}
	var pool *pgxpool.Pool
	if c.PushFrom == "end" {
		// Opened first: a database that cannot be reached fails the command before it copies.
		if pool, err = openDatabase(e.ctx, e.g.DatabaseURL); err != nil {
			return err
		}
		defer pool.Close()
	}
	bar := newProgress(e, !c.NoProgress, "repartition")
	defer bar.finish()
	res, err := kafka.Repartition(e.ctx, cfg, kafka.RepartitionOptions{
		To: to, Partitions: c.Partitions, Batch: c.Batch,
		Started: bar.Expect, Passed: bar.Add,
	})
	bar.finish()
	if res.Resumed > 0 {
		fmt.Fprintf(e.stderr, "went on from where an earlier run stopped in %d partitions\n", res.Resumed)
	}
	if err != nil {
		return err
	}
	logs, dest := cfg.Topics.Logs(), to.Logs()
	for i, t := range logs {
		fmt.Fprintf(e.stdout, "%-24s -> %-28s %d records copied\n", t, dest[i], res.Copied[t])
	}
	if pool != nil {
		if err := pushFromEnd(e, pool, cfg, to); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "the push projection starts at the new topics' ends\n")
	}
	fmt.Fprintf(e.stdout, "the new topics have %d partitions; next: CHORUS_TOPIC_SUFFIX=%s CHORUS_PARTITIONS=%d, rebuild the projections, start (docs/operations.md)\n",
		c.Partitions, e.g.TopicSuffix+c.ToSuffix, c.Partitions)
	if members > 0 || undecided > 0 {
		fmt.Fprintf(e.stdout, "command processors were running: run this again once they are stopped\n")
	}
	return nil
}

// pushFromEnd sets the push projection's checkpoints on the new topics to their ends. It cannot be
// rebuilt (its effects are frames for the sockets connected now) and from the new topics'
// beginnings it would push the whole history again; what it keeps in the database (the
// organizations' members its broadcasts go to) holds for the new topics as it is. Run again
// after a --live copy, it moves them to the new ends (a checkpoint never moves back).
func pushFromEnd(e *env, pool *pgxpool.Pool, cfg kafka.Config, to kafka.Topics) error {
	cfg.Topics = to
	client, err := kafka.NewReadClient(cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	ranges, err := kafka.LogRanges(client, ops.Push.Topics(to))
	if err != nil {
		return err
	}
	next := make(map[checkpoint.Partition]int64, len(ranges))
	for _, r := range ranges {
		next[checkpoint.Partition{Topic: r.Topic, Part: r.Partition}] = r.End
	}
	if err := checkpoint.Raise(e.ctx, pool, projections.PushProjection, next); err != nil {
		return fmt.Errorf("start the push projection at the new topics' ends: %w", err)
	}
	return nil
}
