package domain

import (
	"encoding/json"
	"io"
	"net/mail"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// More limits of the contract and of Chorus.
const (
	MaxURLLength        = 2048
	MaxDisplayNameRunes = 64
	MaxEmailLength      = 254
	MaxBanReasonRunes   = 500
)

// roomName is a room name as stored: trimmed, 1 to MaxRoomNameRunes characters, a line of text
// (checkText) with something visible.
func roomName(s string) (string, error) {
	name := strings.TrimSpace(s)
	if name == "" || utf8.RuneCountInString(name) > MaxRoomNameRunes {
		return "", reject(CodeValidationFailed, "name must be 1 to %d characters", MaxRoomNameRunes)
	}
	name, err := checkText("name", name, textLine)
	if err != nil {
		return "", err
	}
	if !hasVisible(name) {
		return "", reject(CodeValidationFailed, "name must hold at least one visible character")
	}
	return name, nil
}

// roomDescription is a room description as stored: trimmed, at most MaxDescriptionRunes
// characters of valid UTF-8, possibly empty.
func roomDescription(s string) (string, error) {
	desc := strings.TrimSpace(s)
	if utf8.RuneCountInString(desc) > MaxDescriptionRunes {
		return "", reject(CodeValidationFailed, "description is longer than %d characters", MaxDescriptionRunes)
	}
	return checkText("description", desc, textBlock)
}

// messageContent is the content of a message of type mtype as stored: trimmed, 1 to
// MaxContentRunes characters of valid UTF-8; for an image or a file also an attachment
// (see validAttachment).
func messageContent(mtype, s string) (string, error) {
	content := strings.TrimSpace(s)
	if n := utf8.RuneCountInString(content); n == 0 || n > MaxContentRunes {
		return "", reject(CodeValidationFailed, "content must be 1 to %d characters after trimming", MaxContentRunes)
	}
	content, err := checkText("content", content, textBlock)
	if err != nil {
		return "", err
	}
	if !hasVisible(content) {
		return "", reject(CodeValidationFailed, "content must hold at least one visible character")
	}
	if (mtype == MessageImage || mtype == MessageFile) && !validAttachment(content) {
		return "", reject(CodeValidationFailed,
			`the content of an image or file message must be an absolute http(s) URL or a JSON object with a "url" that is one`)
	}
	return content, nil
}

// attachmentNumbers are the descriptor fields that hold numbers; every other field holds a string.
var attachmentNumbers = map[string]bool{"size": true, "width": true, "height": true}

// validAttachment: an absolute http(s) URL, or a JSON object with a string "url" that is an
// absolute http(s) URL, whose other fields are strings (name, mime, ...) or, for size, width and
// height, non-negative numbers. Duplicate keys and trailing data are refused.
func validAttachment(content string) bool {
	if !strings.HasPrefix(content, "{") {
		return validHTTPURL(content)
	}
	dec := json.NewDecoder(strings.NewReader(content))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		key, ok := tok.(string)
		if !ok || seen[key] {
			return false
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return false
		}
		if attachmentNumbers[key] {
			// A JSON number starts with '-' or a digit (null would decode into n without error).
			var n float64
			if (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) || json.Unmarshal(raw, &n) != nil || n < 0 {
				return false
			}
			continue
		}
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return false
		}
		if key == "url" && !validHTTPURL(s) {
			return false
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		return false
	}
	return seen["url"]
}

// validHTTPURL: an absolute http or https URL with a host, at most MaxURLLength bytes, without
// spaces or control characters.
func validHTTPURL(s string) bool {
	if s == "" || len(s) > MaxURLLength || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.Hostname() == "" {
		return false
	}
	return true
}

// displayName is a display name as stored: trimmed, the username when empty, at most
// MaxDisplayNameRunes characters of valid UTF-8.
func displayName(s, username string) (string, error) {
	display := strings.TrimSpace(s)
	if display == "" {
		display = username
	}
	if utf8.RuneCountInString(display) > MaxDisplayNameRunes {
		return "", reject(CodeValidationFailed, "display_name is longer than %d characters", MaxDisplayNameRunes)
	}
	display, err := checkText("display_name", display, textLine)
	if err != nil {
		return "", err
	}
	if !hasVisible(display) {
		return "", reject(CodeValidationFailed, "display_name must hold at least one visible character")
	}
	return display, nil
}

// emailAddress is an email as stored: trimmed, empty or one bare address.
func emailAddress(s string) (string, error) {
	email := strings.TrimSpace(s)
	if email != "" {
		if _, err := checkText("email", email, textLine); err != nil {
			return "", err
		}
		if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > MaxEmailLength {
			return "", reject(CodeValidationFailed, "email is not a valid address")
		}
	}
	return email, nil
}

// avatarURL is an avatar URL as stored: trimmed, empty or an absolute http(s) URL.
func avatarURL(s string) (string, error) {
	u := strings.TrimSpace(s)
	if u != "" && !validHTTPURL(u) {
		return "", reject(CodeValidationFailed, "avatar_url must be an absolute http(s) URL of at most %d characters", MaxURLLength)
	}
	return u, nil
}

// banReason is a ban reason as stored: trimmed, at most MaxBanReasonRunes characters of valid
// UTF-8, possibly empty.
func banReason(s string) (string, error) {
	reason := strings.TrimSpace(s)
	if utf8.RuneCountInString(reason) > MaxBanReasonRunes {
		return "", reject(CodeValidationFailed, "reason is longer than %d characters", MaxBanReasonRunes)
	}
	return checkText("reason", reason, textBlock)
}
