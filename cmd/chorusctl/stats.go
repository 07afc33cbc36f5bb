package main

import (
	"encoding/json"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chorus-chat/chorus/adapters/ops"
)

type statsCmd struct {
	rangeFlags `embed:""`
	Format     string `name:"format" short:"f" enum:"table,json" default:"table" help:"Output format: table or json."`
	NoProgress bool   `name:"no-progress" help:"No progress bar (it is only shown when standard error is a terminal)."`
}

func (c *statsCmd) Validate() error { return c.rangeFlags.validate() }

func (c *statsCmd) Run(e *env) error {
	opts := c.options(e)
	bar := newProgress(e, !c.NoProgress, "stats")
	opts.Progress = bar.counter()
	opts.OnStart = bar.start
	out, st, err := ops.Stats(e.ctx, e.kafkaConfig(), c.q, opts)
	bar.finish()
	if err != nil {
		return err
	}
	reportReplay(e, false, st, 0)
	if c.Format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return writeStatsTable(e.stdout, out)
}

func writeStatsTable(w io.Writer, s ops.EventStats) error {
	rangeText := func(b string, none string) string {
		if b == "" {
			return none
		}
		return b
	}
	head := [][]string{
		{"topics", strings.Join(s.Topics, ", ")},
		{"range", rangeText(s.From, "start of log") + " .. " + rangeText(s.To, "end of log")},
		{"events", strconv.FormatInt(s.Events, 10)},
	}
	if s.First != nil {
		head = append(head,
			[]string{"first", s.First.Format(time.RFC3339Nano)},
			[]string{"last", s.Last.Format(time.RFC3339Nano)})
	}
	var b strings.Builder
	writeTable(&b, nil, head, nil)
	types := make([]string, 0, len(s.ByType))
	for t := range s.ByType {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool {
		if s.ByType[types[i]] != s.ByType[types[j]] {
			return s.ByType[types[i]] > s.ByType[types[j]]
		}
		return types[i] < types[j]
	})
	rows := make([][]string, 0, len(types))
	for _, t := range types {
		rows = append(rows, []string{t, strconv.FormatInt(s.ByType[t], 10), percent(s.ByType[t], s.Events)})
	}
	b.WriteString("\n")
	writeTable(&b, []string{"TYPE", "EVENTS", "SHARE"}, rows, []bool{false, true, true})
	days := make([]string, 0, len(s.ByDay))
	for d := range s.ByDay {
		days = append(days, d)
	}
	sort.Strings(days)
	rows = rows[:0]
	for _, d := range days {
		rows = append(rows, []string{d, strconv.FormatInt(s.ByDay[d], 10), percent(s.ByDay[d], s.Events)})
	}
	b.WriteString("\n")
	writeTable(&b, []string{"DAY (UTC)", "EVENTS", "SHARE"}, rows, []bool{false, true, true})
	_, err := io.WriteString(w, b.String())
	return err
}

func percent(k, n int64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatFloat(100*float64(k)/float64(n), 'f', 1, 64) + "%"
}

// writeTable writes rows under header (none if nil) in columns two spaces apart; right[i]
// right-aligns column i (numbers).
func writeTable(b *strings.Builder, header []string, rows [][]string, right []bool) {
	var widths []int
	all := rows
	if header != nil {
		all = append([][]string{header}, rows...)
	}
	for _, r := range all {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for _, r := range all {
		var line strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			if i > 0 {
				line.WriteString("  ")
			}
			switch {
			case i < len(right) && right[i]:
				line.WriteString(pad + c)
			case i < len(r)-1:
				line.WriteString(c + pad)
			default:
				line.WriteString(c)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteString("\n")
	}
}
