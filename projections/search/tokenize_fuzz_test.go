package search

import (
	"context"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
)

// FuzzSearchText: message content and search text from users become a tsvector and a tsquery
// written in Postgres's input syntax here (tokenize.go). Whatever the text, Postgres reads both
// (a syntax error would answer a search or index a message with a 500), and a short message is
// found by searching for its own content.
func FuzzSearchText(f *testing.F) {
	for _, s := range [][2]string{
		{"Hello, World!", "hello"},
		{"你好世界 and more", "好世界"},
		{"it's a 'quoted' \\ back\\slash", "it's \\"},
		{"a\x00b", "\x00"},
		{"\xff\xfe broken", "\xff"},
		{"ＡＢＣ１２３ ﬁ ẞ", "abc123"},
		{"ーー〆々 한국어 カタカナ", "한국"},
		{"room:6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60", "room:6f1c2a4e"},
		{"& | ! <-> ( ) : * '", "!hello & (world | x) <-> y:*"},
		{"e\u0301t\u0301e\u0301", "é"},
	} {
		f.Add(s[0], s[1])
	}
	pool := pgtest.New(f)
	room := uuid.MustParse("6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60")
	f.Fuzz(func(t *testing.T, content, query string) {
		if utf8.RuneCountInString(content) > 4000 || utf8.RuneCountInString(query) > 200 {
			return // longer is refused before it gets here (the contract's limits)
		}
		ctx := context.Background()
		doc := Document(room, content)
		var ok bool
		if err := pool.QueryRow(ctx, `SELECT $1::tsvector IS NOT NULL`, doc).Scan(&ok); err != nil {
			t.Fatalf("content %q: Postgres refuses its document %q: %v", content, doc, err)
		}
		if terms := Terms(query); len(terms) > 0 {
			q := roomsQuery(terms, []uuid.UUID{room})
			if err := pool.QueryRow(ctx, `SELECT $1::tsquery IS NOT NULL`, q).Scan(&ok); err != nil {
				t.Fatalf("query %q: Postgres refuses its tsquery %q: %v", query, q, err)
			}
		}
		terms := Terms(content)
		if len(terms) == 0 || utf8.RuneCountInString(content) > 200 {
			return // past 256 repeats a lexeme keeps no more positions: a long text may not find itself
		}
		q := roomsQuery(terms, []uuid.UUID{room})
		if err := pool.QueryRow(ctx, `SELECT $1::tsvector @@ $2::tsquery`, doc, q).Scan(&ok); err != nil || !ok {
			t.Fatalf("content %q is not found by searching for it: %v @@ %v: %v, %v", content, doc, q, ok, err)
		}
	})
}
