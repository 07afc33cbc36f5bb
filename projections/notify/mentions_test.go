package notify

import (
	"reflect"
	"strings"
	"testing"
)

func TestMentions(t *testing.T) {
	cases := []struct {
		content string
		want    []string
	}{
		{"hi @bob", []string{"bob"}},
		{"@bob at the start", []string{"bob"}},
		{"@Bob and @BOB are one user", []string{"bob"}},
		{"(@carol), @dave; @erin!", []string{"carol", "dave", "erin"}},
		{"thanks @bob.", []string{"bob.", "bob"}},
		{"see @bob-- there", []string{"bob--", "bob"}},
		{"names may hold @a.b-c_d", []string{"a.b-c_d"}},
		{"mail bob@example.com is no mention", nil},
		{"@@bob", []string{"bob"}},
		{"too short @ab, just right @abc", []string{"abc"}},
		{"too long @" + strings.Repeat("x", 33), nil},
		{"@" + strings.Repeat("x", 32), []string{strings.Repeat("x", 32)}},
		{"non-ASCII stops a name: @bob界", []string{"bob"}},
		{"界@bob after a CJK character", []string{"bob"}},
		{"no mention at all", nil},
		{"@", nil},
	}
	for _, tc := range cases {
		if got := Mentions(tc.content); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Mentions(%q) = %q, want %q", tc.content, got, tc.want)
		}
	}
}

func TestMentionsAreBounded(t *testing.T) {
	var b strings.Builder
	for i := range 2 * MaxMentions {
		b.WriteString("@user")
		b.WriteString(strings.Repeat("x", i%10+1))
		b.WriteString(string(rune('a' + i/10)))
		b.WriteString(" ")
	}
	if got := Mentions(b.String()); len(got) != MaxMentions {
		t.Fatalf("%d mentions, want the first %d", len(got), MaxMentions)
	}
}

func TestExcerpt(t *testing.T) {
	if got := excerpt("  hello\n\n  world\t!  "); got != "hello world !" {
		t.Errorf("excerpt folds whitespace: %q", got)
	}
	long := strings.Repeat("界", excerptRunes+5)
	if got := excerpt(long); got != strings.Repeat("界", excerptRunes)+"…" {
		t.Errorf("excerpt of a long message: %q", got)
	}
	exact := strings.Repeat("a", excerptRunes)
	if got := excerpt(exact); got != exact {
		t.Errorf("excerpt of exactly %d runes: %q", excerptRunes, got)
	}
}
