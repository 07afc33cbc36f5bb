package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/projections/notify"
	"github.com/chorus-chat/chorus/projections/readmodel"
	"github.com/chorus-chat/chorus/projections/search"
)

// projectionDef is a projection the server runs: its checkpoint name, consumer group and the
// topics it reads (cmd/chorus/server.go).
type projectionDef struct {
	name   string
	topics func(kafka.Topics) []string
}

var projectionDefs = []projectionDef{
	{readmodel.Projection, func(t kafka.Topics) []string { return t.EventTopics() }},
	{"push", func(t kafka.Topics) []string { return []string{t.ChatEvents, t.SystemEvents} }},
	{search.Projection, func(t kafka.Topics) []string { return []string{t.ChatEvents} }},
	{notify.Projection, func(t kafka.Topics) []string { return []string{t.ChatEvents, t.SystemEvents} }},
}

// projectorGroup is the consumer group of a projection's projectors.
func projectorGroup(projection string) string { return "chorus-projector-" + projection }

// Partition states.
const (
	stateLive    = "live"
	stateBehind  = "behind"
	stateUnknown = "unknown"
)

type statusCmd struct {
	Format     string        `name:"format" short:"f" enum:"table,json" default:"table" help:"Output format: table or json."`
	Projection []string      `name:"projection" sep:"," placeholder:"NAME" help:"Projections to show (repeatable or comma-separated). Default: readmodel, push and any other projection that has checkpoints."`
	LiveWithin time.Duration `name:"live-within" default:"5s" help:"A partition whose oldest unprojected event is at most this old is still live."`
	ExactUpTo  int64         `name:"exact-up-to" default:"1000000" help:"Count the unprojected events exactly when a partition is at most this many offsets behind; beyond it the lag is the offset difference (an upper bound)."`
}

func (c *statusCmd) Validate() error {
	if c.LiveWithin < 0 || c.ExactUpTo < 0 {
		return usagef("--live-within and --exact-up-to must not be negative")
	}
	return nil
}

func defOf(name string) *projectionDef {
	for i := range projectionDefs {
		if projectionDefs[i].name == name {
			return &projectionDefs[i]
		}
	}
	return nil
}

// partitionStatus is one row of the status.
type partitionStatus struct {
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

type projectionStatus struct {
	Projection   string            `json:"projection"`
	Group        string            `json:"group"`
	GroupState   string            `json:"group_state"` // as the broker says (Stable, Empty, ...) or "unknown"
	GroupMembers int               `json:"group_members"`
	State        string            `json:"state"`
	LagEvents    int64             `json:"lag_events"`
	LagSeconds   float64           `json:"lag_seconds"`
	DeadLetters  int64             `json:"dead_letters"`
	Partitions   []partitionStatus `json:"partitions"`
}

type statusReport struct {
	CheckedAt   time.Time          `json:"checked_at"`
	Projections []projectionStatus `json:"projections"`
}

func (c *statusCmd) Run(e *env) error {
	ctx := e.ctx
	pool, err := openDatabase(ctx, e.g.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := readmodel.NewStore(pool)
	client, err := kafka.NewReadClient(e.kafkaConfig())
	if err != nil {
		return err
	}
	defer client.Close()
	topics := e.kafkaConfig().Topics
	report := statusReport{CheckedAt: time.Now().UTC()}
	names, err := c.projections(ctx, pool)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
			return fmt.Errorf("database %s has no projection_checkpoints table: has the server ever run against it?", databaseName(e.g.DatabaseURL))
		}
		return err
	}
	groups := describeGroups(client, names)
	dead, err := deadLetterCounts(ctx, pool)
	if err != nil {
		return err
	}
	for _, name := range names {
		cps, err := store.Checkpoints(ctx, name)
		if err != nil {
			return err
		}
		if defOf(name) == nil && len(cps) == 0 {
			return fmt.Errorf("unknown projection %q: not one of readmodel, push, and it has no checkpoints", name)
		}
		var ts []string
		if def := defOf(name); def != nil {
			ts = def.topics(topics)
		}
		for t := range cps {
			if !contains(ts, t) {
				ts = append(ts, t)
			}
		}
		sort.Strings(ts)
		ps := projectionStatus{Projection: name, Group: projectorGroup(name), GroupState: "unknown", DeadLetters: dead[name]}
		if g, ok := groups[ps.Group]; ok {
			ps.GroupState, ps.GroupMembers = g.State, len(g.Members)
		}
		logs, err := kafka.LogRanges(client, ts)
		if err != nil {
			return err
		}
		for _, l := range logs {
			row, err := c.partition(ctx, client, l, cps[l.Topic], report.CheckedAt)
			if err != nil {
				return err
			}
			ps.Partitions = append(ps.Partitions, row)
		}
		ps.summarize()
		report.Projections = append(report.Projections, ps)
	}
	if c.Format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	var b strings.Builder
	writeStatusTable(&b, report)
	_, err = e.stdout.Write([]byte(b.String()))
	return err
}

// projections are the ones asked for or, by default, the known ones and those with checkpoints.
func (c *statusCmd) projections(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	var out []string
	for _, p := range c.Projection {
		if p = strings.TrimSpace(p); p != "" && !contains(out, p) {
			out = append(out, p)
		}
	}
	rows, err := pool.Query(ctx, `SELECT DISTINCT projection FROM projection_checkpoints ORDER BY projection`)
	if err != nil {
		return nil, fmt.Errorf("list projections: %w", err)
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list projections: %w", err)
	}
	if len(out) > 0 {
		return out, nil
	}
	for _, d := range projectionDefs {
		out = append(out, d.name)
	}
	for _, p := range stored {
		if !contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// partition computes one partition's status: the unprojected events are the committed records
// from the checkpoint (or the log start) to the last stable offset.
func (c *statusCmd) partition(ctx context.Context, client sarama.Client, l kafka.PartitionRange, cps map[int32]int64, now time.Time) (partitionStatus, error) {
	row := partitionStatus{Topic: l.Topic, Partition: l.Partition, LogStart: l.Start, EndOffset: l.End, LagExact: true}
	from := l.Start
	cp, ok := cps[l.Partition]
	if ok {
		row.Checkpoint = &cp
		switch {
		case cp > l.End:
			row.State, row.Note = stateUnknown, "checkpoint beyond the log end: was the log reset?"
			return row, nil
		case cp < l.Start:
			row.Note = "records below the log start were deleted before they were projected"
		default:
			from = cp
		}
	}
	if from < l.End {
		if l.End-from > c.ExactUpTo {
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
		row.State, row.Note = stateLive, "no checkpoint: nothing to project yet"
	case !ok:
		row.State, row.Note = stateUnknown, "no checkpoint: never projected"
	case row.LagEvents == 0 || row.LagSeconds <= c.LiveWithin.Seconds():
		row.State = stateLive
	default:
		row.State = stateBehind
	}
	return row, nil
}

// summarize sums the partitions up: the worst state (behind, then unknown, then live), the
// events behind and the oldest unprojected event's age.
func (ps *projectionStatus) summarize() {
	ps.State = stateLive
	for _, p := range ps.Partitions {
		ps.LagEvents += p.LagEvents
		ps.LagSeconds = math.Max(ps.LagSeconds, p.LagSeconds)
		switch {
		case p.State == stateBehind:
			ps.State = stateBehind
		case p.State == stateUnknown && ps.State == stateLive:
			ps.State = stateUnknown
		}
	}
}

// describeGroups asks the broker about the projector groups; a failure leaves them unknown.
func describeGroups(client sarama.Client, projections []string) map[string]*sarama.GroupDescription {
	out := map[string]*sarama.GroupDescription{}
	var groups []string
	for _, p := range projections {
		groups = append(groups, projectorGroup(p))
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

func writeStatusTable(b *strings.Builder, r statusReport) {
	var rows [][]string
	for _, p := range r.Projections {
		members := strconv.Itoa(p.GroupMembers) + " members"
		if p.GroupMembers == 1 {
			members = "1 member"
		}
		rows = append(rows, []string{p.Projection, p.State, strconv.FormatInt(p.LagEvents, 10), formatSeconds(p.LagSeconds),
			strconv.FormatInt(p.DeadLetters, 10), p.Group + " (" + p.GroupState + ", " + members + ")"})
	}
	writeTable(b, []string{"PROJECTION", "STATE", "LAG", "LAG(S)", "DEAD LETTERS", "GROUP"}, rows, []bool{false, false, true, true, true, false})
	rows = rows[:0]
	for _, p := range r.Projections {
		for _, q := range p.Partitions {
			cp := "-"
			if q.Checkpoint != nil {
				cp = strconv.FormatInt(*q.Checkpoint, 10)
			}
			lag := strconv.FormatInt(q.LagEvents, 10)
			if !q.LagExact {
				lag = "<=" + lag
			}
			rows = append(rows, []string{p.Projection, q.Topic, strconv.Itoa(int(q.Partition)), cp, strconv.FormatInt(q.EndOffset, 10),
				lag, formatSeconds(q.LagSeconds), q.State, q.Note})
		}
	}
	b.WriteString("\n")
	writeTable(b, []string{"PROJECTION", "TOPIC", "PARTITION", "CHECKPOINT", "END", "LAG", "LAG(S)", "STATE", "NOTE"}, rows,
		[]bool{false, false, true, true, true, true, true, false, false})
}

func formatSeconds(s float64) string {
	if s == 0 {
		return "0"
	}
	return strconv.FormatFloat(s, 'f', 1, 64)
}

// openDatabase connects to Postgres without creating or migrating anything (postgres.Open
// would): a status check must not change the database.
func openDatabase(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, usagef("CHORUS_DATABASE_URL / --database-url: %v", err)
	}
	cfg.MaxConns = 2
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Postgres at %s: %w", where(cfg), err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "3D000" {
			return nil, fmt.Errorf("database %s does not exist at %s:%d: has the server ever run against it?", cfg.ConnConfig.Database, cfg.ConnConfig.Host, cfg.ConnConfig.Port)
		}
		return nil, fmt.Errorf("cannot reach Postgres at %s: %w", where(cfg), err)
	}
	return pool, nil
}

func where(cfg *pgxpool.Config) string {
	return fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
}

func databaseName(url string) string {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return "?"
	}
	return cfg.ConnConfig.Database
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// deadLetterCounts counts the records each projection dead-lettered (table
// projection_dead_letters; a database from before that table counts none).
func deadLetterCounts(ctx context.Context, pool *pgxpool.Pool) (map[string]int64, error) {
	out := map[string]int64{}
	rows, err := pool.Query(ctx, `SELECT projection, count(*) FROM projection_dead_letters GROUP BY projection`)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
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
