package ops

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Partition states.
const (
	StateLive    = "live"
	StateBehind  = "behind"
	StateUnknown = "unknown"
	// StateRebuilding is a projection's state while a new generation of it is being built
	// (it still serves from the live one).
	StateRebuilding = "rebuilding"
	// StateFailed is a projection's state while a projector process keeps failing to apply a
	// batch (projection_failures).
	StateFailed = "failed"
)

// failedWithin is how recent a projector's last failure must be for its projection to show as
// failed: a failing projector reports at least every second, so an older row was left by a
// process that stopped.
const failedWithin = time.Minute

// StatusOptions say what Status reports.
type StatusOptions struct {
	// Projections to show; empty: every projection the server runs and any other that has
	// checkpoints.
	Projections []string
	// LiveWithin: a partition whose oldest unprojected event is at most this old is still live.
	LiveWithin time.Duration
	// ExactUpTo: the unprojected events of a partition are counted exactly when it is at most
	// this many offsets behind; beyond it the lag is the offset difference (an upper bound).
	ExactUpTo int64
}

// DefaultStatusOptions are chorusctl's defaults.
var DefaultStatusOptions = StatusOptions{LiveWithin: 5 * time.Second, ExactUpTo: 1_000_000}

// PartitionStatus is one partition of a projection's status.
type PartitionStatus struct {
	Topic      string  `json:"topic"`
	Partition  int32   `json:"partition"`
	Checkpoint *int64  `json:"checkpoint"` // next offset to project; null: none stored
	LogStart   int64   `json:"log_start_offset"`
	EndOffset  int64   `json:"end_offset"` // last stable offset
	LagEvents  int64   `json:"lag_events"`
	LagExact   bool    `json:"lag_exact"`
	LagSeconds float64 `json:"lag_seconds"`
	State      string  `json:"state"`
	Note       string  `json:"note,omitempty"`
}

// ProjectionStatus is one projection's status.
type ProjectionStatus struct {
	Projection   string `json:"projection"`
	Group        string `json:"group"`
	GroupState   string `json:"group_state"` // as the broker says (Stable, Empty, ...) or "unknown"
	GroupMembers int    `json:"group_members"`
	// QuietGroup, for a projection that reads its quiet topics in a group of their own
	// (Projection.Quiet), is that group, with its state and members as the broker says.
	QuietGroup        string `json:"quiet_group,omitempty"`
	QuietGroupState   string `json:"quiet_group_state,omitempty"`
	QuietGroupMembers int    `json:"quiet_group_members,omitempty"`
	// Rebuildable says whether rebuild and verify take the projection (it keeps tables).
	Rebuildable bool `json:"rebuildable"`
	// State is the worst of the partitions' (behind, then unknown, then live), or rebuilding
	// while a new generation is being built beside the live one.
	State       string  `json:"state"`
	LagEvents   int64   `json:"lag_events"`
	LagSeconds  float64 `json:"lag_seconds"`
	DeadLetters int64   `json:"dead_letters"`
	// Rebuild is the progress of a new generation being built (or left by an interrupted
	// rebuild), if any.
	Rebuild *RebuildStatus `json:"rebuild,omitempty"`
	// Failures are the projector processes failing to apply a batch now, if any.
	Failures   []FailureStatus   `json:"failures,omitempty"`
	Partitions []PartitionStatus `json:"partitions"`
}

// RebuildStatus is how far a new generation of a projection is.
type RebuildStatus struct {
	Schema string `json:"schema"`
	// Running says that a rebuild holds the generation now; false: an interrupted one left it
	// (the next rebuild resumes it).
	Running bool `json:"running"`
	// Behind is the offsets it still has to read to reach the log end.
	Behind int64 `json:"behind"`
}

// FailureStatus is a projector process that keeps failing.
type FailureStatus struct {
	Instance     string    `json:"instance"`
	Error        string    `json:"error"`
	Failures     int64     `json:"failures"`
	Since        time.Time `json:"since"`
	LastFailedAt time.Time `json:"last_failed_at"`
}

// StatusReport is the status of every projection asked for.
type StatusReport struct {
	CheckedAt   time.Time          `json:"checked_at"`
	Projections []ProjectionStatus `json:"projections"`
}

// Status reports every projection's checkpoints against the log end.
func Status(ctx context.Context, d Deps, o StatusOptions) (StatusReport, error) {
	report := StatusReport{CheckedAt: time.Now().UTC()}
	if o.LiveWithin < 0 || o.ExactUpTo < 0 {
		return report, errors.New("status: negative bounds")
	}
	names, err := projectionNames(ctx, d, o.Projections)
	if err != nil {
		return report, err
	}
	groups := describeGroups(d.Client, names)
	dead, err := deadLetterCounts(ctx, d)
	if err != nil {
		return report, err
	}
	failures, err := recentFailures(ctx, d)
	if err != nil {
		return report, err
	}
	for _, name := range names {
		cps, err := checkpointsOf(ctx, d, name)
		if err != nil {
			return report, err
		}
		def, known := projectionOf(name)
		if !known && len(cps) == 0 {
			return report, fmt.Errorf("%w %q: not one the server runs, and it has no checkpoints", ErrUnknownProjection, name)
		}
		var reads, others []string
		if known {
			reads = def.Topics(d.Topics)
		}
		for t := range cps {
			if !slices.Contains(reads, t) {
				others = append(others, t)
			}
		}
		sort.Strings(others)
		ps := ProjectionStatus{Projection: name, Group: ProjectorGroup(name), GroupState: "unknown", DeadLetters: dead[name],
			Rebuildable: known && def.Rebuildable()}
		if g, ok := groups[ps.Group]; ok {
			ps.GroupState, ps.GroupMembers = g.State, len(g.Members)
		}
		if known && def.Quiet != nil {
			ps.QuietGroup, ps.QuietGroupState = def.QuietGroup(), "unknown"
			if g, ok := groups[ps.QuietGroup]; ok {
				ps.QuietGroupState, ps.QuietGroupMembers = g.State, len(g.Members)
			}
		}
		logs, err := kafka.LogRanges(d.Client, reads)
		if err != nil {
			return report, err
		}
		// Checkpoints on topics the projection does not read (those a partition-count migration
		// copied from, docs/operations.md) are shown while their topic exists, and passed over
		// once it was deleted.
		shown := slices.Clone(logs)
		for _, t := range others {
			l, err := kafka.LogRanges(d.Client, []string{t})
			var nt kafka.TopicNotFoundError
			if errors.As(err, &nt) {
				continue
			}
			if err != nil {
				return report, err
			}
			shown = append(shown, l...)
		}
		sort.SliceStable(shown, func(i, j int) bool { return shown[i].Topic < shown[j].Topic })
		for _, l := range shown {
			row, err := partitionStatus(ctx, d.Client, o, l, cps[l.Topic], report.CheckedAt)
			if err != nil {
				return report, err
			}
			ps.Partitions = append(ps.Partitions, row)
		}
		ps.summarize()
		if ps.Rebuild, err = rebuildStatus(ctx, d, name, logs); err != nil {
			return report, err
		}
		if ps.Rebuild != nil && ps.Rebuild.Running {
			ps.State = StateRebuilding
		}
		if ps.Failures = failures[name]; len(ps.Failures) > 0 {
			ps.State = StateFailed
		}
		report.Projections = append(report.Projections, ps)
	}
	return report, nil
}

// checkpointsOf loads a projection's checkpoints, telling a database that was never migrated.
func checkpointsOf(ctx context.Context, d Deps, name string) (map[string]map[int32]int64, error) {
	cps, err := checkpoint.Load(ctx, d.Pool, name)
	if err != nil {
		return nil, notMigrated(err)
	}
	return cps, nil
}

// rebuildStatus finds the new generation of a rebuildable projection, if there is one.
func rebuildStatus(ctx context.Context, d Deps, name string, logs []kafka.PartitionRange) (*RebuildStatus, error) {
	if p, ok := projectionOf(name); !ok || !p.Rebuildable() {
		return nil, nil
	}
	schema := SchemaOf(name, kindNext)
	var exists bool
	if err := d.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil || !exists {
		return nil, err
	}
	st := &RebuildStatus{Schema: schema}
	cps, err := checkpoint.Load(ctx, d.Pool, generationCheckpoints(name, kindNext))
	if err != nil {
		return nil, err
	}
	for _, l := range logs {
		st.Behind += max(0, l.End-max(l.Start, cps[l.Topic][l.Partition]))
	}
	// A running rebuild holds the projection's advisory lock.
	if err := d.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1)`, lockKey(name)).Scan(&st.Running); err != nil {
		return nil, err
	}
	return st, nil
}

// projections are the ones asked for or, by default, the known ones and those with checkpoints.
func projectionNames(ctx context.Context, d Deps, asked []string) ([]string, error) {
	var out []string
	for _, p := range asked {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	rows, err := d.Pool.Query(ctx, `SELECT DISTINCT projection FROM projection_checkpoints ORDER BY projection`)
	if err != nil {
		return nil, fmt.Errorf("list projections: %w", notMigrated(err))
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list projections: %w", err)
	}
	if len(out) > 0 {
		return out, nil
	}
	for _, p := range Projections {
		out = append(out, p.Name)
	}
	for _, p := range stored {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// partition computes one partition's status: the unprojected events are the committed records
// from the checkpoint (or the log start) to the last stable offset.
func partitionStatus(ctx context.Context, client sarama.Client, o StatusOptions, l kafka.PartitionRange, cps map[int32]int64, now time.Time) (PartitionStatus, error) {
	row := PartitionStatus{Topic: l.Topic, Partition: l.Partition, LogStart: l.Start, EndOffset: l.End, LagExact: true}
	from := l.Start
	cp, ok := cps[l.Partition]
	if ok {
		row.Checkpoint = &cp
		switch {
		case cp > l.End:
			row.State, row.Note = StateUnknown, "checkpoint beyond the log end: was the log reset?"
			return row, nil
		case cp < l.Start:
			row.Note = "records below the log start were deleted before they were projected"
		default:
			from = cp
		}
	}
	if from < l.End {
		if l.End-from > o.ExactUpTo {
			// Too far behind to count: the offsets are an upper bound, the first record's age
			// is still exact.
			row.LagExact = false
			row.LagEvents = l.End - from
		}
		var n int64
		var oldest time.Time
		stop := errors.New("stop")
		_, err := kafka.ReadCommitted(ctx, client, l.Topic, l.Partition, from, func(r kafka.Record) error {
			if r.Offset >= l.End || (!row.LagExact && n > 0) {
				return stop
			}
			if n == 0 {
				oldest = r.Timestamp
				if env, err := kafka.ParseEnvelope(r.Value); err == nil {
					oldest = env.OccurredAt
				}
			}
			n++
			return nil
		})
		if err != nil && !errors.Is(err, stop) {
			return row, err
		}
		if row.LagExact {
			row.LagEvents = n
		}
		if n > 0 {
			row.LagSeconds = math.Max(0, math.Round(now.Sub(oldest).Seconds()*1000)/1000)
		}
	}
	if row.State != "" {
		return row, nil
	}
	switch {
	case !ok && row.LagEvents == 0:
		row.State, row.Note = StateLive, "no checkpoint: nothing to project yet"
	case !ok:
		row.State, row.Note = StateUnknown, "no checkpoint: never projected"
	case row.LagEvents == 0 || row.LagSeconds <= o.LiveWithin.Seconds():
		row.State = StateLive
	default:
		row.State = StateBehind
	}
	return row, nil
}

// summarize sums the partitions up: the worst state (behind, then unknown, then live), the
// events behind and the oldest unprojected event's age.
func (ps *ProjectionStatus) summarize() {
	ps.State = StateLive
	for _, p := range ps.Partitions {
		ps.LagEvents += p.LagEvents
		ps.LagSeconds = math.Max(ps.LagSeconds, p.LagSeconds)
		switch {
		case p.State == StateBehind:
			ps.State = StateBehind
		case p.State == StateUnknown && ps.State == StateLive:
			ps.State = StateUnknown
		}
	}
}

// describeGroups asks the broker about the projector groups; a failure leaves them unknown.
func describeGroups(client sarama.Client, projections []string) map[string]*sarama.GroupDescription {
	out := map[string]*sarama.GroupDescription{}
	var groups []string
	for _, p := range projections {
		groups = append(groups, ProjectorGroup(p))
		if def, ok := projectionOf(p); ok && def.Quiet != nil {
			groups = append(groups, def.QuietGroup())
		}
	}
	for _, g := range groups {
		coord, err := client.Coordinator(g)
		if err != nil {
			continue
		}
		resp, err := coord.DescribeGroups(&sarama.DescribeGroupsRequest{Groups: []string{g}})
		if err != nil {
			continue
		}
		for _, d := range resp.Groups {
			if d.Err == sarama.ErrNoError {
				out[d.GroupId] = d
			}
		}
	}
	return out
}

// deadLetterCounts counts the records each projection dead-lettered (table
// projection_dead_letters; a database from before that table counts none).
func deadLetterCounts(ctx context.Context, d Deps) (map[string]int64, error) {
	out := map[string]int64{}
	rows, err := d.Pool.Query(ctx, `SELECT projection, count(*) FROM projection_dead_letters GROUP BY projection`)
	if err != nil {
		if undefinedTable(err) {
			return out, nil
		}
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	var (
		name string
		n    int64
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error { out[name] = n; return nil })
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return out, nil
}

// recentFailures are the projector processes that failed within failedWithin, by projection
// (table projection_failures; a database from before it has none).
func recentFailures(ctx context.Context, d Deps) (map[string][]FailureStatus, error) {
	out := map[string][]FailureStatus{}
	rows, err := d.Pool.Query(ctx, `SELECT projection, instance, error, failures, since, last_failed_at
		FROM projection_failures WHERE last_failed_at > now() - make_interval(secs => $1) ORDER BY projection, since`,
		failedWithin.Seconds())
	if err != nil {
		if undefinedTable(err) {
			return out, nil
		}
		return nil, fmt.Errorf("projection failures: %w", err)
	}
	var (
		name string
		f    FailureStatus
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &f.Instance, &f.Error, &f.Failures, &f.Since, &f.LastFailedAt}, func() error {
		f.Since, f.LastFailedAt = f.Since.UTC(), f.LastFailedAt.UTC()
		out[name] = append(out[name], f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("projection failures: %w", err)
	}
	return out, nil
}
