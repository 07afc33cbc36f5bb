package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Schema versions. Every event type has its own schema version, counted from 1: a type's
// version goes up when the shape of its data changes, and an upcaster turns data of one version
// into the next. Events stay in Kafka forever, so every version ever written stays readable:
// UnmarshalJSON upcasts old data step by step to the type's current version before decoding it,
// and refuses a version newer than it knows (data written by a newer release would be misread).

// schemaVersions is the current schema version of the types whose data has changed since the
// first release; every other type is at CurrentSchemaVersion. eventsOf writes these versions.
var schemaVersions = map[string]int{
	// v2 adds "room", the room as it stands after the change.
	TypeRoomUpdated: 2,
	// v2 adds "username", the name the kicked member joined with.
	TypeMemberKicked: 2,
	// v2 adds "username" and "was_member".
	TypeUserBanned: 2,
}

// Upcaster turns an event's data of one schema version into the next version's. It gets the
// data as written, unchecked, and must check what it reads.
type Upcaster func(data json.RawMessage) (json.RawMessage, error)

// upcasters holds, for each type, the chain from version 1: upcasters[t][i] turns version i+1
// into version i+2. A type at version n has exactly n-1 upcasters (a test checks it).
var upcasters = map[string][]Upcaster{
	// Events of the first releases carry no room state; nothing outside the event can give it
	// back, so v2 says so with null (consumers then read the room elsewhere, see RoomUpdated).
	TypeRoomUpdated: {addMissing(map[string]json.RawMessage{"room": json.RawMessage("null")})},
	// The first releases did not record the kicked member's name: "" (unknown).
	TypeMemberKicked: {addMissing(map[string]json.RawMessage{"username": json.RawMessage(`""`)})},
	// The first releases banned members and non-members alike without telling which, and
	// without the name. was_member is taken as true: consumers then announce a member leaving
	// (under no name) rather than keep showing a banned member who was one.
	TypeUserBanned: {addMissing(map[string]json.RawMessage{
		"username":   json.RawMessage(`""`),
		"was_member": json.RawMessage("true"),
	})},
}

// SchemaVersion is the current schema version of an event type: the version events of that type
// are written with, and the version UnmarshalJSON turns older ones into.
func SchemaVersion(eventType string) int {
	if v, ok := schemaVersions[eventType]; ok {
		return v
	}
	return CurrentSchemaVersion
}

// Upcast turns data of an event type written at schema version `version` into the type's
// current version. Data at the current version is returned as it is. A version below 1 or
// above the current one is an error.
func Upcast(eventType string, version int, data json.RawMessage) (json.RawMessage, error) {
	current := SchemaVersion(eventType)
	switch {
	case version == current:
		return data, nil
	case version < 1:
		return nil, fmt.Errorf("%s: schema_version %d is invalid (versions start at 1)", eventType, version)
	case version > current:
		return nil, fmt.Errorf("%s: schema_version %d is newer than this release knows (%d): upgrade the reader",
			eventType, version, current)
	}
	chain := upcasters[eventType]
	for v := version; v < current; v++ {
		if v-1 >= len(chain) {
			return nil, fmt.Errorf("%s: no upcaster from schema_version %d", eventType, v)
		}
		next, err := chain[v-1](data)
		if err != nil {
			return nil, fmt.Errorf("upcast %s data from schema_version %d: %w", eventType, v, err)
		}
		data = next
	}
	return data, nil
}

// addMissing is an upcaster that adds fields a version introduced, with the value that stands
// for "not recorded". A field already present is kept: an event that already has it says more
// than the default.
func addMissing(fields map[string]json.RawMessage) Upcaster {
	return func(data json.RawMessage) (json.RawMessage, error) {
		if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
			return nil, fmt.Errorf("data is not an object")
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			return nil, err
		}
		for k, v := range fields {
			if _, ok := obj[k]; !ok {
				obj[k] = v
			}
		}
		return json.Marshal(obj)
	}
}
