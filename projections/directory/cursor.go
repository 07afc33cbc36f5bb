package directory

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// maxCursorBytes bounds what a cursor parser reads: a member cursor holds a username (at most a
// few hundred bytes), so a real cursor is well under this.
const maxCursorBytes = 1024

// MemberCursor is a position in the directory's order (lower-case username, then user id): a
// page holds the members after it. Being a position rather than an offset, it neither skips
// nor repeats a member when members join or leave between pages.
type MemberCursor struct {
	Username string // lower-case, as ordered
	UserID   uuid.UUID
}

// AuditCursor is a position in an organization's audit log, newest first: a page holds the
// events before (older than) Version.
type AuditCursor struct {
	Version int64
}

// cursorJSON is what a cursor encodes. The kind keeps one cursor from being passed for
// another, the version lets a later order refuse old cursors.
type cursorJSON struct {
	V       int       `json:"v"`
	Kind    string    `json:"k"`
	Name    string    `json:"n,omitempty"`
	ID      uuid.UUID `json:"i,omitempty"`
	Version int64     `json:"e,omitempty"`
}

func encodeCursor(c cursorJSON) string {
	c.V = 1
	b, _ := json.Marshal(c) // cannot fail: plain fields
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, kind string) (cursorJSON, error) {
	var c cursorJSON
	if len(s) > maxCursorBytes {
		return c, fmt.Errorf("%w: cursor too long", ErrBadQuery)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	// encoding/json would turn invalid UTF-8 into U+FFFD rather than refuse it.
	if err != nil || !utf8.Valid(b) {
		return c, fmt.Errorf("%w: cursor is not base64url of UTF-8", ErrBadQuery)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() || c.V != 1 || c.Kind != kind {
		return cursorJSON{}, fmt.Errorf("%w: not a %s cursor", ErrBadQuery, kind)
	}
	// Postgres refuses NUL in text: caught here, it would be a 500.
	if strings.ContainsRune(c.Name, 0) {
		return cursorJSON{}, fmt.Errorf("%w: not a %s cursor", ErrBadQuery, kind)
	}
	return c, nil
}

// String is the opaque form of the cursor that clients pass back.
func (c MemberCursor) String() string {
	return encodeCursor(cursorJSON{Kind: "member", Name: c.Username, ID: c.UserID})
}

// ParseMemberCursor reads a cursor that MemberCursor.String made; anything else is ErrBadQuery.
func ParseMemberCursor(s string) (MemberCursor, error) {
	c, err := decodeCursor(s, "member")
	if err != nil {
		return MemberCursor{}, err
	}
	if c.ID == uuid.Nil {
		return MemberCursor{}, fmt.Errorf("%w: not a member cursor", ErrBadQuery)
	}
	return MemberCursor{Username: c.Name, UserID: c.ID}, nil
}

// String is the opaque form of the cursor that clients pass back.
func (c AuditCursor) String() string {
	return encodeCursor(cursorJSON{Kind: "audit", Version: c.Version})
}

// ParseAuditCursor reads a cursor that AuditCursor.String made; anything else is ErrBadQuery.
func ParseAuditCursor(s string) (AuditCursor, error) {
	c, err := decodeCursor(s, "audit")
	if err != nil {
		return AuditCursor{}, err
	}
	if c.Version <= 0 {
		return AuditCursor{}, fmt.Errorf("%w: not an audit cursor", ErrBadQuery)
	}
	return AuditCursor{Version: c.Version}, nil
}
