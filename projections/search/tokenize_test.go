package search_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/projections/search"
)

func TestTerms(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"Hello, World!", []string{"'hello'", "'world'"}},
		{"hello HELLO", []string{"'hello'"}},
		{"ＡＢＣ１２３", []string{"'abc123'"}},
		{"世", []string{"'世'"}},
		{"世界", []string{"'世界'"}},
		{"你好世界", []string{"'你好' <-> '好世' <-> '世界'"}},
		{"東京タワー", []string{"'東京' <-> '京タ' <-> 'タワ' <-> 'ワー'"}},
		{"2024年 report", []string{"'2024'", "'年'", "'report'"}},
		{"안녕 세계", []string{"'안녕'", "'세계'"}},
		{"it's", []string{"'it'", "'s'"}},
		{"?!… 🎉", nil},
		{strings.Repeat("x", 100), []string{"'" + strings.Repeat("x", 64) + "'"}},
	} {
		if got := search.Terms(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("Terms(%q) = %q, want %q", tc.q, got, tc.want)
		}
	}
}

func TestDocument(t *testing.T) {
	room := uuid.MustParse("00000000-0000-0000-0000-000000000001")
	got := search.Document(room, "Hi 你好! hi")
	// Words and characters have positions; a pair sits at its first character's.
	want := "'hi':1,4 '你':2 '你好':2 '好':3 'room:00000000-0000-0000-0000-000000000001'"
	if got != want {
		t.Fatalf("Document = %q, want %q", got, want)
	}
}
