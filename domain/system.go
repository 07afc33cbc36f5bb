package domain

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// AggregateSystem is the type of the one system aggregate: announcements by the server's
// admins (the seed's SystemEvent) that reach every connected client.
const AggregateSystem = "system"

// SystemAggregateID is the id of the system aggregate. There is exactly one, so every system
// event lands on one partition of system-events, in one order, under one single writer.
var SystemAggregateID = uuid.MustParse("00000000-0000-0000-0000-000000000002")

// CmdPublishSystemEvent publishes a system event.
const CmdPublishSystemEvent = "publish_system_event"

// TypeSystemEventPublished records a published system event.
const TypeSystemEventPublished = "SystemEventPublished"

// System event types (the seed's SystemEventType, in snake case).
const (
	SystemMaintenance   = "maintenance"
	SystemUpdate        = "system_update"
	SystemSecurityAlert = "security_alert"
	SystemFeatureUpdate = "feature_update"
)

// Limits of a system event.
const (
	MaxSystemMessageRunes = 2000
	MaxSystemDataBytes    = 16 << 10
)

// PublishSystemEvent announces something to every user. Who may publish is the server's
// configuration (its admin users), which the gateway checks, as it authenticates every actor
// of every command: the aggregate checks what is said, not who is an admin.
type PublishSystemEvent struct {
	Kind    string          `json:"event_type"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// SystemEventPublished is one announcement. Data is any JSON value the publisher attached,
// or null.
type SystemEventPublished struct {
	Kind        string          `json:"event_type"`
	Message     string          `json:"message"`
	Data        json.RawMessage `json:"data"`
	PublishedBy uuid.UUID       `json:"published_by"`
	PublishedAt time.Time       `json:"published_at"`
}

func (PublishSystemEvent) CommandType() string { return CmdPublishSystemEvent }

func (SystemEventPublished) EventType() string { return TypeSystemEventPublished }

// IsSystemEventType tells whether t is one of the system event types.
func IsSystemEventType(t string) bool {
	switch t {
	case SystemMaintenance, SystemUpdate, SystemSecurityAlert, SystemFeatureUpdate:
		return true
	}
	return false
}

// System is the aggregate of system events. It keeps no state beyond its version: every
// valid announcement is accepted, and its idempotency comes from the command ids every
// aggregate's partition remembers.
type System struct {
	id        uuid.UUID
	version   int64
	published int64
}

// NewSystem is the system aggregate before its first event.
func NewSystem(id uuid.UUID) *System { return &System{id: id} }

// Version is the number of events applied so far.
func (s *System) Version() int64 { return s.version }

// Published is the number of system events published so far.
func (s *System) Published() int64 { return s.published }

// Decide handles PublishSystemEvent.
func (s *System) Decide(cmd Command, now time.Time) ([]Event, error) {
	p, ok := cmd.Payload.(PublishSystemEvent)
	if !ok {
		return nil, reject(CodeValidationFailed, "command %s does not apply to the system", cmd.Type)
	}
	if cmd.AggregateID != SystemAggregateID {
		return nil, reject(CodeValidationFailed, "system events go to the system aggregate %s", SystemAggregateID)
	}
	if cmd.ActorID == uuid.Nil {
		return nil, reject(CodeForbidden, "a system event needs a publisher")
	}
	if !IsSystemEventType(p.Kind) {
		return nil, reject(CodeValidationFailed, "event_type must be maintenance, system_update, security_alert or feature_update")
	}
	msg := strings.TrimSpace(p.Message)
	if n := utf8.RuneCountInString(msg); n == 0 || n > MaxSystemMessageRunes {
		return nil, reject(CodeValidationFailed, "message must be 1 to %d characters after trimming", MaxSystemMessageRunes)
	}
	msg, err := checkText("message", msg, textBlock)
	if err != nil {
		return nil, err
	}
	if !hasVisible(msg) {
		return nil, reject(CodeValidationFailed, "message must hold at least one visible character")
	}
	data, err := systemData(p.Data)
	if err != nil {
		return nil, err
	}
	return eventsOf(cmd, s.version, now, SystemEventPublished{
		Kind: p.Kind, Message: msg, Data: data, PublishedBy: cmd.ActorID, PublishedAt: now.UTC(),
	}), nil
}

// systemData is the data of a system event as stored: nil for none (absent or null), else the
// value compacted, at most MaxSystemDataBytes.
func systemData(raw json.RawMessage) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, trimmed); err != nil || !json.Valid(trimmed) {
		return nil, reject(CodeValidationFailed, "data must be a JSON value")
	}
	if buf.Len() > MaxSystemDataBytes {
		return nil, reject(CodeValidationFailed, "data is larger than %d bytes", MaxSystemDataBytes)
	}
	// Postgres's jsonb refuses \u0000 in any string of the value, key or element.
	if bytes.Contains(buf.Bytes(), []byte(`\u0000`)) {
		var v any
		if err := json.Unmarshal(buf.Bytes(), &v); err == nil && jsonHasNUL(v) {
			return nil, reject(CodeValidationFailed, "data must not contain NUL (\\u0000) in any string")
		}
	}
	return json.RawMessage(buf.Bytes()), nil
}

// jsonHasNUL tells whether a decoded JSON value holds a NUL in any string or key.
func jsonHasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.ContainsRune(v, 0)
	case []any:
		for _, e := range v {
			if jsonHasNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.ContainsRune(k, 0) || jsonHasNUL(e) {
				return true
			}
		}
	}
	return false
}

// UnmarshalJSON reads null data as no data, so that an event decodes to the value it was
// written from.
func (e *SystemEventPublished) UnmarshalJSON(b []byte) error {
	type plain SystemEventPublished
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if string(p.Data) == "null" {
		p.Data = nil
	}
	*e = SystemEventPublished(p)
	return nil
}

// Apply folds a system event.
func (s *System) Apply(e Event) {
	s.version = e.Version
	if _, ok := e.Data.(SystemEventPublished); ok {
		s.published++
	}
}
