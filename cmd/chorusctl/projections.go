package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops"
)

type statusCmd struct {
	Format     string        `name:"format" short:"f" enum:"table,json" default:"table" help:"Output format: table or json."`
	Projection []string      `name:"projection" sep:"," placeholder:"NAME" help:"Projections to show (repeatable or comma-separated). Default: readmodel, push, search, notifications, directory and any other projection that has checkpoints."`
	LiveWithin time.Duration `name:"live-within" default:"5s" help:"A partition whose oldest unprojected event is at most this old is still live."`
	ExactUpTo  int64         `name:"exact-up-to" default:"1000000" help:"Count the unprojected events exactly when a partition is at most this many offsets behind; beyond it the lag is the offset difference (an upper bound)."`
}

func (c *statusCmd) Validate() error {
	if c.LiveWithin < 0 || c.ExactUpTo < 0 {
		return usagef("--live-within and --exact-up-to must not be negative")
	}
	return nil
}

func (c *statusCmd) Run(e *env) error {
	d, closeAll, err := e.opsDeps()
	if err != nil {
		return err
	}
	defer closeAll()
	report, err := ops.Status(e.ctx, d, ops.StatusOptions{Projections: c.Projection, LiveWithin: c.LiveWithin, ExactUpTo: c.ExactUpTo})
	if errors.Is(err, ops.ErrNotMigrated) {
		return fmt.Errorf("database %s has no projection_checkpoints table: has the server ever run against it?", databaseName(e.g.DatabaseURL))
	}
	if err != nil {
		return err
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

// opsDeps connects to the database and the brokers for the ops commands.
func (e *env) opsDeps() (ops.Deps, func(), error) {
	pool, err := openDatabase(e.ctx, e.g.DatabaseURL)
	if err != nil {
		return ops.Deps{}, nil, err
	}
	client, err := kafka.NewReadClient(e.kafkaConfig())
	if err != nil {
		pool.Close()
		return ops.Deps{}, nil, err
	}
	return ops.Deps{Pool: pool, Client: client, Topics: e.kafkaConfig().Topics}, func() { client.Close(); pool.Close() }, nil
}

// groupStatus is a consumer group as the status table shows it: its name, state and members.
func groupStatus(name, state string, members int) string {
	n := strconv.Itoa(members) + " members"
	if members == 1 {
		n = "1 member"
	}
	return name + " (" + state + ", " + n + ")"
}

func writeStatusTable(b *strings.Builder, r ops.StatusReport) {
	var rows [][]string
	for _, p := range r.Projections {
		group := groupStatus(p.Group, p.GroupState, p.GroupMembers)
		if p.QuietGroup != "" {
			group += ", " + groupStatus(p.QuietGroup, p.QuietGroupState, p.QuietGroupMembers)
		}
		rows = append(rows, []string{p.Projection, p.State, strconv.FormatInt(p.LagEvents, 10), formatSeconds(p.LagSeconds),
			strconv.FormatInt(p.DeadLetters, 10), group})
	}
	writeTable(b, []string{"PROJECTION", "STATE", "LAG", "LAG(S)", "DEAD LETTERS", "GROUPS"}, rows, []bool{false, false, true, true, true, false})
	for _, p := range r.Projections {
		for _, f := range p.Failures {
			fmt.Fprintf(b, "%s: failing on %s since %s (%d failures in a row): %s\n", p.Projection, f.Instance,
				f.Since.Format(time.RFC3339), f.Failures, f.Error)
		}
		if rb := p.Rebuild; rb != nil {
			what := "an interrupted rebuild left"
			if rb.Running {
				what = "a rebuild is building"
			}
			fmt.Fprintf(b, "%s: %s %s, %d offsets behind the log end\n", p.Projection, what, rb.Schema, rb.Behind)
		}
	}
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
	// A rebuild holds one connection for its lock, one for the swap or the compare, and
	// applies batches on two more (ops.Rebuild).
	cfg.MaxConns = 6
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
