package domain

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The one text rule of every text field a command carries. An event the aggregate accepted must
// be storable by every projection: Postgres refuses NUL in text and jsonb, so a NUL accepted here
// was an accepted command that no projection could write. Beyond NUL, control characters have no
// business in chat text and are refused rather than silently dropped, so that a client learns its
// input was wrong instead of seeing something else stored (docs/protocol.md, "Text").
//
// Two kinds of field:
//   - a line (room name, display name, client_msg_id, email): no control character at all, no
//     bidirectional embedding, override or isolate character (a name is shown inside other text,
//     where an unclosed override reorders what follows it), and, for names, at least one visible
//     character;
//   - a block (message content, room description, ban reason, system event message): newline
//     and tab allowed; a carriage return is normalised (CRLF and a lone CR become a newline, which
//     is what every client means by one); other control characters refused. Bidirectional
//     characters are allowed: mixed-direction prose needs them.

// textKind is how a field is checked.
type textKind int

const (
	textLine  textKind = iota // one line: no control characters
	textBlock                 // several lines: \n and \t allowed, CR normalised
)

// isBidiControl: the explicit embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069).
// The implicit marks (LRM, RLM, ALM) change no order beyond themselves and are allowed.
func isBidiControl(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

// isVisible: a character that draws something by itself: a letter, digit, punctuation or symbol.
// Spaces, format characters (zero-width space and joiner, bidi marks, soft hyphen) and combining
// marks alone are not.
func isVisible(r rune) bool {
	return unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S)
}

// checkText applies the text rule to s (already trimmed) for the field named field, and returns s
// as stored: with a block's carriage returns normalised.
func checkText(field, s string, kind textKind) (string, error) {
	if !utf8.ValidString(s) {
		return "", reject(CodeValidationFailed, "%s is not valid UTF-8", field)
	}
	if kind == textBlock && strings.ContainsRune(s, '\r') {
		s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	}
	for _, r := range s {
		switch {
		case r == 0:
			return "", reject(CodeValidationFailed, "%s must not contain NUL (U+0000)", field)
		case kind == textBlock && (r == '\n' || r == '\t'):
		case unicode.IsControl(r):
			if kind == textBlock {
				return "", reject(CodeValidationFailed, "%s must not contain control characters other than newline and tab (found U+%04X)", field, r)
			}
			return "", reject(CodeValidationFailed, "%s must not contain control characters (found U+%04X)", field, r)
		case kind == textLine && isBidiControl(r):
			return "", reject(CodeValidationFailed, "%s must not contain bidirectional override, embedding or isolate characters (found U+%04X)", field, r)
		case r == '\ufffe' || r == '\uffff':
			return "", reject(CodeValidationFailed, "%s must not contain noncharacters (found U+%04X)", field, r)
		}
	}
	return s, nil
}

// hasVisible tells whether s shows anything: a name made only of zero-width or bidi characters
// would be an invisible name.
func hasVisible(s string) bool {
	return strings.IndexFunc(s, isVisible) >= 0
}

// UsernameProblem says what is wrong with a username, or "" when it is valid: 3 to 32 ASCII
// letters, digits, '_', '.' and '-', at least one of them a letter or a digit (a name like "..."
// or "-_-" cannot be told apart from punctuation in a mention or a list). The gateway checks it
// before hashing a password; the user aggregate decides with it.
func UsernameProblem(name string) string {
	if len(name) < 3 || len(name) > 32 {
		return "username must be 3 to 32 characters"
	}
	alnum := false
	for _, r := range name {
		letterOrDigit := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !letterOrDigit && r != '_' && r != '.' && r != '-' {
			return "username may hold only letters, digits, '_', '.' and '-'"
		}
		alnum = alnum || letterOrDigit
	}
	if !alnum {
		return "username must hold at least one letter or digit"
	}
	return ""
}
