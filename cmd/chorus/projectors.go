package main

import (
	"context"
	"log/slog"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/metrics"
	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/notify"
	"github.com/chorus-chat/chorus/projections/orgproxies"
	"github.com/chorus-chat/chorus/projections/orgrooms"
)

// runProjectors runs, with the projectors role, a projector for every projection of the table
// (ops.Projections) that this process runs (CHORUS_PROJECTIONS), each its own consumer group,
// and beside the notification projector the relay that announces what it commits. A record a
// projection cannot store (after CHORUS_PROJECTOR_ATTEMPTS tries) is dead-lettered, so that one
// bad record does not stop the projection for its whole partition. Closers are appended to
// cleanups.
func runProjectors(cfg Config, kcfg kafka.Config, env ops.Env, pushesOf func() *redis.Pushes,
	run func(string, func(context.Context) error), cleanups *[]func(), met *metrics.Metrics, watch func(*kafka.Projector), log *slog.Logger,
) error {
	failures := checkpoint.FailureLog{Pool: env.Pool, Instance: cfg.InstanceID}
	for _, p := range ops.Projections {
		if !cfg.runs(p) {
			continue
		}
		h, err := p.Handler(env)
		if err != nil {
			return err
		}
		proj := p.Projector(kcfg, h, cfg.ProjectorAttempts, log).WithFailures(failures).UseMetrics(met)
		watch(proj)
		run("projector-"+p.Name, proj.Run)
	}
	if cfg.runs(ops.Notifications) {
		pushes, err := pushesOf().Publisher()
		if err != nil {
			return err
		}
		*cleanups = append(*cleanups, func() { _ = pushes.Close() })
		records, err := kafka.NewNotificationLog(kcfg)
		if err != nil {
			return err
		}
		*cleanups = append(*cleanups, func() { _ = records.Close() })
		run("notification-relay", notify.NewRelay(env.Notify, records, pushes, log).Run)
	}
	return nil
}

// runManagerRelays runs, beside each process manager this process runs (the department rooms',
// the organizations' proxies'), the relay that sends the commands it queues: through the
// command log, as a gateway sends, with its replies on a channel of its own.
func runManagerRelays(ctx context.Context, cfg Config, kcfg kafka.Config, env ops.Env, replies *redis.Replies,
	run func(string, func(context.Context) error), cleanups *[]func(), log *slog.Logger,
) error {
	dispatcher := func(name string) (*commands.Dispatcher, error) {
		cl, err := kafka.NewCommandLog(kcfg, log)
		if err != nil {
			return nil, err
		}
		*cleanups = append(*cleanups, func() { _ = cl.Close() })
		replyTo := replies.Channel(cfg.InstanceID + "-" + name)
		disp := commands.NewDispatcher(cl, replyTo, cfg.CommandTimeout)
		return disp, replies.Listen(ctx, replyTo, disp.Resolve)
	}
	if cfg.runs(ops.OrgRooms) {
		disp, err := dispatcher("orgrooms")
		if err != nil {
			return err
		}
		run("orgrooms-relay", orgrooms.NewRelay(env.OrgRooms, disp, log).Run)
	}
	if cfg.runs(ops.OrgProxies) {
		disp, err := dispatcher("orgproxies")
		if err != nil {
			return err
		}
		run("orgproxies-relay", orgproxies.NewRelay(env.OrgProxies, disp, log).Run)
	}
	return nil
}
