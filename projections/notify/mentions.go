package notify

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxMentions bounds how many users one message can notify by mention.
const MaxMentions = 50

// excerptRunes is how much of a message a mention notification quotes.
const excerptRunes = 100

// Username limits, as the domain registers names (domain.validateUsername).
const (
	minUsername = 3
	maxUsername = 32
)

func isUsernameByte(c byte) bool {
	return c == '_' || c == '.' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// Mentions returns the usernames content mentions, lower-cased (names are unique without regard
// to case), each once, in order of first appearance, at most MaxMentions.
//
// A mention is an '@' that does not follow a username character (so "bob@example.com" is
// none) and is followed by a run of username characters: the run itself, and the run without
// trailing '.' and '-' (sentence punctuation: "thanks @bob."), are candidates if they are 3 to
// 32 characters long. Whether a candidate names anyone is for the caller to find out.
func Mentions(content string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		if len(name) < minUsername || len(name) > maxUsername || len(out) >= MaxMentions {
			return
		}
		name = strings.ToLower(name)
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	for i := 0; i < len(content); i++ {
		if content[i] != '@' || (i > 0 && isUsernameByte(content[i-1])) {
			continue
		}
		j := i + 1
		for j < len(content) && isUsernameByte(content[j]) {
			j++
		}
		run := content[i+1 : j]
		add(run)
		if trimmed := strings.TrimRight(run, ".-"); trimmed != run {
			add(trimmed)
		}
		i = j - 1
	}
	return out
}

// excerpt is the start of a message's content on one line, for a notification to quote.
func excerpt(content string) string {
	s := strings.Join(strings.FieldsFunc(content, unicode.IsSpace), " ")
	if utf8.RuneCountInString(s) <= excerptRunes {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:excerptRunes])) + "…"
}
