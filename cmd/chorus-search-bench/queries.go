package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/chorus-chat/chorus/projections/search"
)

// benchQuery is one timed search.
type benchQuery struct {
	search.Query
	kind    string
	took    time.Duration
	results int
}

// queryKinds are the searches timed, in equal numbers. Terms are drawn from the corpus (its
// vocabulary or sampled messages), so common terms come up about as often as users would type
// them and rare ones exist.
var queryKinds = []string{
	"en-common",  // one of the 100 most frequent English words ("the", "meeting" …)
	"en-rare",    // a word from the long tail of the English vocabulary
	"en-2-words", // two adjacent words of an English message
	"zh-1-char",  // one Han character of a Chinese message
	"zh-2-chars", // a two-character substring of a Chinese message
	"zh-4-chars", // a four-character substring of a Chinese message
	"ja-3-chars", // a three-character substring of a Japanese message (kana and kanji)
	"ko-2-chars", // a two-syllable substring of a Korean message
	"miss",       // a word that is nowhere
	"one-room",   // a two-character Chinese or a common English term, in one room (?room_id=)
}

// queries draws n searches, kinds in turn, each by a random user over their rooms.
func (w *world) queries(n int) []benchQuery {
	out := make([]benchQuery, n)
	for i := range out {
		kind := queryKinds[i%len(queryKinds)]
		user := w.users[w.rng.IntN(len(w.users))]
		q := benchQuery{kind: kind, Query: search.Query{UserID: user, Limit: w.o.Limit}}
		switch kind {
		case "en-common":
			q.Text = w.corpus.english[w.rng.IntN(100)]
		case "en-rare":
			q.Text = w.corpus.english[5000+w.rng.IntN(len(w.corpus.english)-5000)]
		case "en-2-words":
			words := strings.FieldsFunc(w.sample(english), func(r rune) bool { return !unicode.IsLetter(r) })
			for len(words) < 2 {
				words = strings.FieldsFunc(w.sample(english), func(r rune) bool { return !unicode.IsLetter(r) })
			}
			j := w.rng.IntN(len(words) - 1)
			q.Text = words[j] + " " + words[j+1]
		case "zh-1-char":
			q.Text = w.cjkSubstring(chinese, 1)
		case "zh-2-chars":
			q.Text = w.cjkSubstring(chinese, 2)
		case "zh-4-chars":
			q.Text = w.cjkSubstring(chinese, 4)
		case "ja-3-chars":
			q.Text = w.cjkSubstring(japanese, 3)
		case "ko-2-chars":
			q.Text = w.cjkSubstring(korean, 2)
		case "miss":
			q.Text = fmt.Sprintf("zqxj%dvw", w.rng.IntN(1_000_000))
		case "one-room":
			rooms := w.member[user]
			q.RoomID = rooms[w.rng.IntN(len(rooms))]
			if w.rng.IntN(2) == 0 {
				q.Text = w.cjkSubstring(chinese, 2)
			} else {
				q.Text = w.corpus.english[w.rng.IntN(100)]
			}
		}
		out[i] = q
	}
	return out
}

func (w *world) sample(lang language) string {
	s := w.samples[lang]
	return s[w.rng.IntN(len(s))]
}

// cjkSubstring is n consecutive CJK characters of a sampled message of lang.
func (w *world) cjkSubstring(lang language, n int) string {
	for {
		var runs [][]rune
		var cur []rune
		for _, r := range w.sample(lang) {
			if unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) {
				cur = append(cur, r)
				continue
			}
			if len(cur) >= n {
				runs = append(runs, cur)
			}
			cur = nil
		}
		if len(cur) >= n {
			runs = append(runs, cur)
		}
		if len(runs) == 0 {
			continue
		}
		run := runs[w.rng.IntN(len(runs))]
		j := w.rng.IntN(len(run) - n + 1)
		return string(run[j : j+n])
	}
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[int(p*float64(len(d)-1)+0.5)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// report prints p50/p95/p99 over all searches and, with perKind, per kind.
func report(qs []benchQuery, perKind bool) {
	fmt.Printf("| kind | searches | p50 | p95 | p99 | max | mean results |\n|---|---|---|---|---|---|---|\n")
	row := func(name string, sel []benchQuery) {
		var d []time.Duration
		results := 0
		for _, q := range sel {
			d = append(d, q.took)
			results += q.results
		}
		slices.Sort(d)
		fmt.Printf("| %s | %d | %s | %s | %s | %s | %.1f |\n", name, len(d), ms(pct(d, .5)), ms(pct(d, .95)), ms(pct(d, .99)),
			ms(d[len(d)-1]), float64(results)/float64(len(d)))
	}
	for _, k := range queryKinds {
		if !perKind {
			break
		}
		var sel []benchQuery
		for _, q := range qs {
			if q.kind == k {
				sel = append(sel, q)
			}
		}
		if len(sel) > 0 {
			row(k, sel)
		}
	}
	row("**all**", qs)
}

// roomKeys matches the room keys of a query as EXPLAIN prints them.
var roomKeys = regexp.MustCompile(`''room:[0-9a-f-]{36}''( \| ''room:[0-9a-f-]{36}'')*`)

// explainSlowest prints the plan of the slowest search of each kind, run again.
func explainSlowest(ctx context.Context, store *search.Store, qs []benchQuery) error {
	for _, k := range queryKinds {
		var worst *benchQuery
		for i := range qs {
			if qs[i].kind == k && (worst == nil || qs[i].took > worst.took) {
				worst = &qs[i]
			}
		}
		if worst == nil {
			continue
		}
		plan, err := store.Explain(ctx, worst.Query)
		if err != nil {
			return err
		}
		plan = roomKeys.ReplaceAllStringFunc(plan, func(keys string) string {
			return fmt.Sprintf("<%d room keys>", strings.Count(keys, "room:"))
		})
		fmt.Printf("\n-- %s %q (took %s)\n%s\n", k, worst.Text, ms(worst.took), plan)
	}
	return nil
}
