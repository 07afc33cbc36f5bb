package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The server's own histograms of a message's path (adapters/metrics): scraped from /metrics
// before and after a phase, their difference says where the phase's milliseconds went.
var stageFamilies = []struct{ family, label, title string }{
	{"chorus_message_stage_seconds", "stage", "since the command's issued_at (gateway clock)"},
	{"chorus_command_batch_step_seconds", "step", "steps of a command batch (per batch)"},
	{"chorus_event_age_seconds", "projector,stage", "since the event's occurred_at (its batch being decided)"},
}

// hists are histograms by family and label values ("stage=command_fetched").
type hists map[string]map[string]*dto.Histogram

// scrapeFamilies reads a Prometheus text endpoint.
func scrapeFamilies(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

func scrapeHists(ctx context.Context, url string) (hists, error) {
	fams, err := scrapeFamilies(ctx, url)
	if err != nil {
		return nil, err
	}
	out := hists{}
	for _, sf := range stageFamilies {
		f := fams[sf.family]
		if f == nil {
			continue
		}
		out[sf.family] = map[string]*dto.Histogram{}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			out[sf.family][strings.Join(labels, " ")] = m.GetHistogram()
		}
	}
	return out, nil
}

// bucketDelta is a histogram's observations between two scrapes: upper bounds and counts.
type bucketDelta struct {
	bounds []float64
	counts []float64 // cumulative
	n      float64
	sum    float64
}

func deltaOf(before, after *dto.Histogram) bucketDelta {
	d := bucketDelta{n: float64(after.GetSampleCount()), sum: after.GetSampleSum()}
	if before != nil {
		d.n -= float64(before.GetSampleCount())
		d.sum -= before.GetSampleSum()
	}
	for i, b := range after.GetBucket() {
		c := float64(b.GetCumulativeCount())
		if before != nil && i < len(before.GetBucket()) {
			c -= float64(before.GetBucket()[i].GetCumulativeCount())
		}
		d.bounds = append(d.bounds, b.GetUpperBound())
		d.counts = append(d.counts, c)
	}
	return d
}

// quantile interpolates linearly within the bucket holding q (as Prometheus's
// histogram_quantile does); the buckets are 30% apart, so is the figure at worst.
func (d bucketDelta) quantile(q float64) float64 {
	if d.n == 0 {
		return math.NaN()
	}
	rank := q * d.n
	lower, prev := 0.0, 0.0
	for i, c := range d.counts {
		if c >= rank {
			if c == prev {
				return d.bounds[i]
			}
			return lower + (d.bounds[i]-lower)*(rank-prev)/(c-prev)
		}
		lower, prev = d.bounds[i], c
	}
	return lower
}

func msOf(s float64) string {
	if math.IsNaN(s) {
		return "-"
	}
	return fmt.Sprintf("%.2f", s*1000)
}

// stageOrder puts a path's stages in the order a message passes them.
var stageOrder = map[string]int{
	"command_produced": 1, "command_fetched": 2, "command_committed": 3, "command_replied": 4, "command_acknowledged": 5,
	"decide": 1, "append": 2, "commit": 3, "reply": 4,
	"fetched": 1, "applied": 2, "push_read": 9,
}

// byPath orders series by their labels before the stage (a projector), then by where their
// stage comes on the path.
func byPath(a, b string) int {
	la, lb := strings.Fields(a), strings.Fields(b)
	return cmp.Or(
		cmp.Compare(strings.Join(la[:len(la)-1], " "), strings.Join(lb[:len(lb)-1], " ")),
		cmp.Compare(stageOrder[la[len(la)-1]], stageOrder[lb[len(lb)-1]]),
		cmp.Compare(a, b))
}

// printStages prints the server's path histograms between two scrapes.
func printStages(before, after hists) {
	fmt.Println("\n  where the time went, from the server's own histograms over the phase (ms; p50 and p99 to within a bucket, 30%):")
	fmt.Println("  | measured | stage | count | mean | p50 | p99 |")
	fmt.Println("  |---|---|---|---|---|---|")
	for _, sf := range stageFamilies {
		keys := make([]string, 0, len(after[sf.family]))
		for k := range after[sf.family] {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, byPath)
		for _, k := range keys {
			d := deltaOf(before[sf.family][k], after[sf.family][k])
			if d.n == 0 {
				continue
			}
			fmt.Printf("  | %s | %s | %.0f | %s | %s | %s |\n", sf.title, k, d.n, msOf(d.sum/d.n), msOf(d.quantile(0.5)), msOf(d.quantile(0.99)))
		}
	}
}

// scrapeOrNote scrapes url, or says why it could not (nil).
func scrapeOrNote(url string) hists {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := scrapeHists(ctx, url)
	if err != nil {
		fmt.Println("  (no stage figures:", err, ")")
		return nil
	}
	return h
}
