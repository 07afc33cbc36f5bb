package search

import (
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/google/uuid"
	"golang.org/x/text/unicode/norm"
)

// Postgres's full-text parser does not split Chinese, Japanese or Korean text into words, so the
// index is built here instead: a message becomes a tsvector whose lexemes are
//
//   - its words in any script written with spaces (Latin, Cyrillic, Greek, digits …), lower-cased
//     after NFKC normalisation (so full-width "Ｈｅｌｌｏ" is "hello");
//   - for every run of CJK characters (Han, Hiragana, Katakana, Hangul), each character and each
//     overlapping pair of characters: "你好世界" → 你 好 世 界 你好 好世 世界;
//   - the key of its room, "room:<id>", which no word can collide with (':' separates words).
//
// A query is split the same way and becomes an AND of its terms: words as words, a single CJK
// character as itself, a CJK run of two or more characters as the phrase of its pairs. Each
// character of a CJK run has its own position and a pair sits at the position of its first
// character, so the phrase '好世' <-> '世界' holds exactly where the text holds 好世界: "世界"
// finds "你好世界", "好世界" finds it too, "好界" does not. The GIN index finds the messages
// that hold all the pairs; Postgres then checks their positions.

const (
	// maxWordRunes cuts very long "words" (a pasted hash, a URL without separators) in the
	// document and in the query alike, so they still find each other; Postgres refuses lexemes
	// over 2 KiB.
	maxWordRunes = 64
	// maxPosition is the largest position a tsvector keeps; later tokens share it.
	maxPosition = 16383
	// maxPositionsPerLexeme is how many positions a tsvector keeps per lexeme.
	maxPositionsPerLexeme = 256
)

// segment is a run of text between separators: either a word or a run of CJK characters.
type segment struct {
	cjk   bool
	runes []rune
}

// normalize is what both documents and queries go through before they are split.
func normalize(text string) string { return strings.ToLower(norm.NFKC.String(text)) }

// isCJK tells whether r is written without spaces between words: Han (including 々 and 〆),
// Hiragana, Katakana (and the prolonged sound mark ー, whose script is Common), Hangul.
func isCJK(r rune) bool {
	if r < 0x1100 {
		return false // fast path: Latin and everything else before Hangul Jamo
	}
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) ||
		r == 'ー' || r == '〆'
}

// isWordRune tells whether r belongs to a word of a script written with spaces.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.In(r, unicode.Mn, unicode.Mc)
}

// segments splits normalised text into words and CJK runs; everything else (spaces,
// punctuation, symbols, emoji) separates them.
func segments(text string) []segment {
	var (
		out    []segment
		cur    []rune
		curCJK bool
	)
	flush := func() {
		if len(cur) > 0 {
			out = append(out, segment{cjk: curCJK, runes: cur})
			cur = nil
		}
	}
	for _, r := range normalize(text) {
		switch {
		case isCJK(r):
			if !curCJK {
				flush()
				curCJK = true
			}
			cur = append(cur, r)
		case isWordRune(r):
			if curCJK {
				flush()
				curCJK = false
			}
			cur = append(cur, r)
		default:
			flush()
		}
	}
	flush()
	return out
}

func word(runes []rune) string {
	if len(runes) > maxWordRunes {
		runes = runes[:maxWordRunes]
	}
	return string(runes)
}

// roomKey is the lexeme that ties a message to its room.
func roomKey(roomID uuid.UUID) string { return "room:" + roomID.String() }

// Document is the tsvector, in Postgres's input syntax, that indexes a message with content text
// in room roomID. Lexemes carry their positions so that ts_rank_cd can reward terms that
// occur close together (as the pairs of a CJK phrase do).
func Document(roomID uuid.UUID, text string) string {
	positions := make(map[string][]int)
	var order []string
	add := func(lexeme string, pos int) {
		pos = min(pos, maxPosition)
		ps, seen := positions[lexeme]
		if !seen {
			order = append(order, lexeme)
		}
		if len(ps) >= maxPositionsPerLexeme || (len(ps) > 0 && ps[len(ps)-1] == pos) {
			return
		}
		positions[lexeme] = append(ps, pos)
	}
	pos := 0
	for _, seg := range segments(text) {
		if !seg.cjk {
			pos++
			add(word(seg.runes), pos)
			continue
		}
		for i, r := range seg.runes {
			p := pos + i + 1
			add(string(r), p)
			if i+1 < len(seg.runes) {
				add(string(seg.runes[i:i+2]), p)
			}
		}
		pos += len(seg.runes)
	}

	var b strings.Builder
	for _, lexeme := range order {
		quoteLexeme(&b, lexeme)
		for i, p := range positions[lexeme] {
			if i == 0 {
				b.WriteByte(':')
			} else {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(p))
		}
		b.WriteByte(' ')
	}
	quoteLexeme(&b, roomKey(roomID))
	return b.String()
}

// Terms are what a query text asks for, each a tsquery that a matching message must satisfy,
// in the order the query names them, without repeats: a word ('hello'), a single CJK character
// ('世'), or the pairs of a longer CJK run as a phrase ('世界' <-> '界和' <-> '和平': the pairs at
// consecutive positions, which is exactly the substring 世界和平). No terms (a query of
// punctuation or emoji only) matches nothing.
func Terms(text string) []string {
	var out []string
	for _, t := range terms(text) {
		var b strings.Builder
		for i, lexeme := range t {
			if i > 0 {
				b.WriteString(" <-> ")
			}
			quoteLexeme(&b, lexeme)
		}
		out = append(out, b.String())
	}
	return out
}

// terms are Terms as their lexemes: one for a word or a single CJK character, the pairs of a
// longer CJK run in order (a phrase).
func terms(text string) [][]string {
	var out [][]string
	seen := make(map[string]bool)
	for _, seg := range segments(text) {
		var t []string
		switch {
		case !seg.cjk:
			t = []string{word(seg.runes)}
		case len(seg.runes) == 1:
			t = []string{string(seg.runes)}
		default:
			for i := 0; i+1 < len(seg.runes); i++ {
				t = append(t, string(seg.runes[i:i+2]))
			}
		}
		if key := strings.Join(t, " "); !seen[key] {
			seen[key] = true
			out = append(out, t)
		}
	}
	return out
}

// termsQuery is the tsquery, in Postgres's input syntax, that needs every one of terms.
func termsQuery(terms []string) string {
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteString(" & ")
		}
		if len(terms) > 1 && strings.Contains(t, "<->") {
			b.WriteString("(" + t + ")")
		} else {
			b.WriteString(t)
		}
	}
	return b.String()
}

// roomKeyQuery is the tsquery that matches every message of room.
func roomKeyQuery(roomID uuid.UUID) string {
	var b strings.Builder
	quoteLexeme(&b, roomKey(roomID))
	return b.String()
}

// roomsQuery is the tsquery that needs terms in any of rooms. rooms must not be empty.
func roomsQuery(terms []string, rooms []uuid.UUID) string {
	var b strings.Builder
	b.WriteByte('(')
	b.WriteString(termsQuery(terms))
	b.WriteString(") & (")
	// Sorted so that the same rooms give the same query text.
	keys := make([]string, len(rooms))
	for i, r := range rooms {
		keys[i] = roomKey(r)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" | ")
		}
		quoteLexeme(&b, k)
	}
	b.WriteByte(')')
	return b.String()
}

// quoteLexeme writes lexeme as a quoted tsvector/tsquery lexeme. Lexemes made here hold only
// letters, digits, marks and the room key's ':' and '-', but quoting costs nothing.
func quoteLexeme(b *strings.Builder, lexeme string) {
	b.WriteByte('\'')
	for _, r := range lexeme {
		switch r {
		case '\'':
			b.WriteString("''")
		case '\\':
			b.WriteString(`\\`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
}
