package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/cmd/internal/benchprof"
	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

type noReplies struct{}

func (noReplies) Reply(context.Context, []commands.AddressedReply) error { return nil }

// benchSnapshot appends the history of one large organization to partition 0 of org-events in
// an embedded broker of its own, as the command processor writes it, then times writing a
// partition snapshot of it and taking the partition over from the snapshot (and, to compare,
// from the whole log).
func benchSnapshot(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "chorus-org-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b, err := kafka.StartEmbedded(kafka.EmbeddedOptions{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		return err
	}
	defer b.Close()
	cfg := kafka.Config{Brokers: []string{b.Addr()}, Topics: kafka.DefaultTopics(), Partitions: 1,
		SessionTimeout: 10 * time.Second, Heartbeat: time.Second, SnapshotEvery: -1}
	if err := kafka.EnsureTopics(cfg); err != nil {
		return err
	}
	start := time.Now()
	n, bytes, err := appendOrg(ctx, cfg, o)
	if err != nil {
		return err
	}
	fmt.Printf("snapshot: appended one organization of %d members in %d departments, %d levels: %d events (%.0f MB of JSON) in %s\n",
		o.Members, o.Departments, o.Depth, n, float64(bytes)/1e6, time.Since(start).Round(time.Millisecond))

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if o.Verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	p := kafka.NewCommandProcessor(cfg, noReplies{}, log)
	var full, writes, copies, takeovers []time.Duration
	var last kafka.RecoveryStats
	for r := range o.Rounds {
		runtime.GC()
		rf, err := p.Recover(ctx, 0, false)
		if err != nil {
			return err
		}
		runtime.GC()
		t := time.Now()
		if _, err := p.SnapshotPartition(ctx, 0); err != nil {
			return err
		}
		w := time.Since(t)
		runtime.GC()
		if o.Profile != "" && r == o.Rounds-1 {
			stop, err := benchprof.StartCPU(o.Profile)
			if err != nil {
				return err
			}
			defer stop()
		}
		rs, err := p.Recover(ctx, 0, true)
		if err != nil {
			return err
		}
		if !rs.FromSnapshot || rs.TailEvents != 0 || rs.Aggregates != rf.Aggregates {
			return fmt.Errorf("the takeover from the snapshot restored %+v; the full rebuild had %d aggregates", rs, rf.Aggregates)
		}
		fmt.Printf("  round %d: takeover from the log %s (%d events); snapshot written in %s (the partition waited %s for the copy); takeover from the snapshot %s (%.1f MB, read+decode %s)\n",
			r+1, ms(rf.Took), rf.TailEvents, ms(w), ms(p.LastSnapshotCopy()), ms(rs.Took), float64(rs.SnapshotBytes)/1e6, ms(rs.SnapshotTook))
		full, writes, copies, takeovers = append(full, rf.Took), append(writes, w), append(copies, p.LastSnapshotCopy()), append(takeovers, rs.Took)
		last = rs
	}
	fmt.Printf("RESULT org_snapshot members=%d departments=%d events=%d snapshot_mb=%.1f write=%s copy=%s takeover_from_snapshot=%s takeover_from_log=%s (median/max of %d rounds; bound 2s)\n",
		o.Members, o.Departments, n, float64(last.SnapshotBytes)/1e6, medMax(writes), medMax(copies), medMax(takeovers), medMax(full), o.Rounds)
	return nil
}

// medMax is "median/max" of d.
func medMax(d []time.Duration) string {
	s := slices.Sorted(slices.Values(d))
	return ms(s[len(s)/2]) + "/" + ms(s[len(s)-1])
}

// appendOrg decides the organization's history with a PartitionState, as the command processor
// does, and appends its events to partition 0 in transactions of o.Batch events. It returns the
// events and bytes of JSON appended.
func appendOrg(ctx context.Context, cfg kafka.Config, o options) (int, int64, error) {
	sc := cfg.Sarama()
	sc.Producer.Idempotent = true
	sc.Producer.Transaction.ID = "chorus-commands-0"
	sc.Producer.Transaction.Timeout = 60 * time.Second
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Net.MaxOpenRequests = 1
	prod, err := sarama.NewSyncProducer(cfg.Brokers, sc)
	if err != nil {
		return 0, 0, err
	}
	defer prod.Close()
	var batch []*sarama.ProducerMessage
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := prod.BeginTxn(); err != nil {
			return err
		}
		if err := prod.SendMessages(batch); err != nil {
			_ = prod.AbortTxn()
			return err
		}
		if err := prod.CommitTxn(); err != nil {
			return err
		}
		batch = batch[:0]
		return ctx.Err()
	}
	var events int
	var bytes int64
	state := commands.NewPartitionState()
	err = orgHistory(o, func(cmd domain.Command) error {
		d := state.Decide(cmd, cmd.IssuedAt)
		if !d.Reply.Accepted {
			return fmt.Errorf("%s rejected: %s %s", cmd.Type, d.Reply.Code, d.Reply.Message)
		}
		for _, ev := range d.Events {
			v, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			bytes += int64(len(v))
			batch = append(batch, &sarama.ProducerMessage{Topic: cfg.Topics.OfStream(domain.StreamOrgs), Partition: 0,
				Key: sarama.StringEncoder(ev.AggregateID.String()), Value: sarama.ByteEncoder(v), Timestamp: ev.OccurredAt})
			events++
		}
		if len(batch) >= o.Batch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return events, bytes, err
	}
	return events, bytes, flush()
}

// orgHistory sends the commands that build the organization of the domain's benchmark
// (domain/org_bench_test.go), scaled by the options: departments in a tree of three children
// each (2,000 make 8 levels), members each in one department (round robin), a department
// admin over each of the first 100 departments.
func orgHistory(o options, send func(domain.Command) error) error {
	org := domain.OrgIDFor("bench-corp")
	owner := domain.UserIDFor("owner")
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	seq := 0
	// cmd sends a command of the owner's with a deterministic id, which it returns (the ids
	// of what a command creates derive from it).
	cmd := func(p domain.CommandData) (uuid.UUID, error) {
		seq++
		now = now.Add(time.Millisecond)
		id := uuid.NewSHA1(org, fmt.Append(nil, "cmd", seq))
		return id, send(domain.NewCommand(id, org, owner, "owner", now, p))
	}
	if _, err := cmd(domain.CreateOrganization{Name: "Bench Corp", Slug: "bench-corp", TimeZone: "Europe/Berlin"}); err != nil {
		return err
	}
	id, err := cmd(domain.CreateOrgRole{Name: "Department admin", Permissions: []string{domain.PermManageDepartments,
		domain.PermManageMembers, domain.PermManageRoles, domain.PermManagePositions, domain.PermCreateDepartmentRooms}})
	if err != nil {
		return err
	}
	deptAdmin := domain.CustomOrgRoleIDFor(id)
	depts := make([]uuid.UUID, o.Departments)
	for i := range depts {
		var parent *uuid.UUID
		if i > 0 {
			parent = &depts[(i-1)/3]
		}
		id, err := cmd(domain.CreateDepartment{ParentID: parent, Name: fmt.Sprint("Department ", i), SortOrder: i})
		if err != nil {
			return err
		}
		depts[i] = domain.DepartmentIDFor(id)
	}
	for i := range o.Members {
		name := fmt.Sprint("user", i)
		user := domain.UserIDFor(name)
		if _, err := cmd(domain.AddOrgMember{UserID: user, Username: name}); err != nil {
			return err
		}
		if _, err := cmd(domain.AddDepartmentMember{DepartmentID: depts[i%len(depts)], UserID: user, Primary: true}); err != nil {
			return err
		}
		if i < 100 && i < len(depts) {
			if _, err := cmd(domain.GrantOrgRole{UserID: user, RoleID: deptAdmin, DepartmentID: &depts[i]}); err != nil {
				return err
			}
		}
	}
	return nil
}
