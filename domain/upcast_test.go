package domain_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/chorus-chat/chorus/domain"
)

var update = flag.Bool("update", false, "rewrite testdata/events/*/v*.upcast.json from the decoder (review the diff)")

const fixtureDir = "testdata/events"

// fixture is the path of an event type's golden fixture at a schema version; upcast selects the
// expected current-version form instead of the envelope as written.
func fixture(typ string, version int, upcast bool) string {
	name := "v" + strconv.Itoa(version)
	if upcast {
		name += ".upcast"
	}
	return filepath.Join(fixtureDir, typ, name+".json")
}

// encode is the canonical form of an event in the golden files.
func encode(t *testing.T, e domain.Event) []byte {
	t.Helper()
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// Every event type has a fixture at every schema version from 1 to its current one, as older
// releases wrote it; each decodes (upcast) to exactly the reviewed current form, and nothing
// else lies in testdata/events.
func TestGoldenEventFixtures(t *testing.T) {
	for _, typ := range domain.EventTypes() {
		current := domain.SchemaVersion(typ)
		for v := 1; v <= current; v++ {
			t.Run(fmt.Sprintf("%s/v%d", typ, v), func(t *testing.T) {
				in, err := os.ReadFile(fixture(typ, v, false))
				if err != nil {
					t.Fatalf("every event type needs a fixture at every version: %v", err)
				}
				var head struct {
					Type          string `json:"type"`
					SchemaVersion int    `json:"schema_version"`
				}
				if err := json.Unmarshal(in, &head); err != nil || head.Type != typ || head.SchemaVersion != v {
					t.Fatalf("fixture declares type %q schema_version %d (%v), want %q %d", head.Type, head.SchemaVersion, err, typ, v)
				}
				var e domain.Event
				if err := json.Unmarshal(in, &e); err != nil {
					t.Fatalf("decode: %v", err)
				}
				if e.SchemaVersion != current {
					t.Errorf("decoded schema_version %d, want the current %d", e.SchemaVersion, current)
				}
				got := encode(t, e)
				path := fixture(typ, v, true)
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (write it with go test ./domain -run Golden -update, then review it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s decodes to\n%s\nwant (%s)\n%s", fixture(typ, v, false), got, path, want)
				}
				// The current form is a fixed point: it decodes to itself.
				var again domain.Event
				if err := json.Unmarshal(want, &again); err != nil {
					t.Fatalf("decode %s: %v", path, err)
				}
				if !reflect.DeepEqual(again, e) {
					t.Errorf("%s decodes to another event\n got: %#v\nwant: %#v", path, again, e)
				}
			})
		}
	}

	known := map[string]bool{}
	for _, typ := range domain.EventTypes() {
		for v := 1; v <= domain.SchemaVersion(typ); v++ {
			known[fixture(typ, v, false)], known[fixture(typ, v, true)] = true, true
		}
	}
	err := filepath.WalkDir(fixtureDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !known[path] {
			t.Errorf("%s is no fixture of a known type and version", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The evolved types' first version lacks the fields added since; the upcasters fill them with
// the documented "not recorded" values.
func TestUpcastFillsWhatOldEventsLack(t *testing.T) {
	decode := func(typ string) domain.Event {
		t.Helper()
		b, err := os.ReadFile(fixture(typ, 1, false))
		if err != nil {
			t.Fatal(err)
		}
		var e domain.Event
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	if d := decode(domain.TypeRoomUpdated).Data.(domain.RoomUpdated); d.Room != nil || d.Name == nil || *d.Name != "design-reviews-2025" {
		t.Errorf("RoomUpdated v1: room %+v, name %v; want no room state and the name kept", d.Room, d.Name)
	}
	if d := decode(domain.TypeMemberKicked).Data.(domain.MemberKicked); d.Username != "" || d.KickedBy.String() != "8d4e5f6a-7b8c-4d9e-a0f1-b2c3d4e5f6a7" {
		t.Errorf("MemberKicked v1: %+v; want username \"\" and kicked_by kept", d)
	}
	if d := decode(domain.TypeUserBanned).Data.(domain.UserBanned); !d.WasMember || d.Username != "" || d.Reason != "repeated spam after a warning" {
		t.Errorf("UserBanned v1: %+v; want was_member true, username \"\", reason kept", d)
	}
}

// A field an older event already carries wins over the upcaster's default.
func TestUpcastKeepsFieldsPresent(t *testing.T) {
	in := `{"id":"0b9e0001-5d1c-5a3e-9f2b-7c6d5e4f3a2b","type":"UserBanned","aggregate_type":"room",` +
		`"aggregate_id":"6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60","version":2,"occurred_at":"2025-04-10T13:20:02.523101Z",` +
		`"actor_id":"3a7b9c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d","command_id":"f3e2d1c0-0001-4b9a-8877-665544332211","schema_version":1,` +
		`"data":{"room_id":"6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60","user_id":"c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e4f5",` +
		`"was_member":false,"banned_by":"3a7b9c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d","reason":""}}`
	var e domain.Event
	if err := json.Unmarshal([]byte(in), &e); err != nil {
		t.Fatal(err)
	}
	if d := e.Data.(domain.UserBanned); d.WasMember {
		t.Errorf("was_member written false came back true: %+v", d)
	}
}

// A version this release does not know is refused, never guessed at: a newer writer's data may
// mean something else. So are versions below 1 and old data that is not an object.
func TestUpcastRefuses(t *testing.T) {
	for _, typ := range domain.EventTypes() {
		b, err := os.ReadFile(fixture(typ, domain.SchemaVersion(typ), true))
		if err != nil {
			t.Fatal(err)
		}
		current := fmt.Sprintf(`"schema_version": %d`, domain.SchemaVersion(typ))
		for _, v := range []int{domain.SchemaVersion(typ) + 1, 99, 0, -1} {
			in := strings.Replace(string(b), current, fmt.Sprintf(`"schema_version": %d`, v), 1)
			if in == string(b) {
				t.Fatalf("%s: no %s in %s", typ, current, b)
			}
			var e domain.Event
			err := json.Unmarshal([]byte(in), &e)
			if err == nil {
				t.Errorf("%s at schema_version %d decoded: %+v", typ, v, e)
				continue
			}
			if v > domain.SchemaVersion(typ) && !strings.Contains(err.Error(), "newer") {
				t.Errorf("%s at schema_version %d: error %q does not say the version is newer", typ, v, err)
			}
		}
	}
	for _, data := range []string{`"x"`, `null`, `[1]`, `7`} {
		in := `{"id":"0b9e0001-5d1c-5a3e-9f2b-7c6d5e4f3a2b","type":"RoomUpdated","aggregate_type":"room",` +
			`"aggregate_id":"6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60","version":2,"occurred_at":"2025-04-10T13:20:02.523101Z",` +
			`"actor_id":"3a7b9c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d","command_id":"f3e2d1c0-0001-4b9a-8877-665544332211",` +
			`"schema_version":1,"data":` + data + `}`
		var e domain.Event
		if err := json.Unmarshal([]byte(in), &e); err == nil {
			t.Errorf("RoomUpdated v1 with data %s decoded: %+v", data, e)
		}
	}
}

// The evolved types are at version 2 and the others at 1, as docs/events.md and docs/schemas say.
// (That Decide writes each type's SchemaVersion is checked by every scenario test.)
func TestSchemaVersionTable(t *testing.T) {
	v2 := map[string]bool{domain.TypeRoomUpdated: true, domain.TypeMemberKicked: true, domain.TypeUserBanned: true}
	for _, typ := range domain.EventTypes() {
		want := 1
		if v2[typ] {
			want = 2
		}
		if got := domain.SchemaVersion(typ); got != want {
			t.Errorf("SchemaVersion(%s) = %d, want %d (docs/events.md and docs/schemas say so)", typ, got, want)
		}
	}
}

var schemaFile = regexp.MustCompile(`^([A-Za-z]+)\.json$`)

// compileSchemas compiles docs/schemas/<Type>.json of every event type, asserting formats.
func compileSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	out := map[string]*jsonschema.Schema{}
	for _, typ := range append(domain.EventTypes(), "envelope") {
		sch, err := c.Compile(filepath.Join("..", "docs", "schemas", typ+".json"))
		if err != nil {
			t.Fatalf("docs/schemas needs a valid schema for %s: %v", typ, err)
		}
		out[typ] = sch
	}
	return out
}

// Every event type has a JSON Schema in docs/schemas and every current-version golden fixture
// is valid under it and under the envelope's; no schema describes an unknown type.
func TestEventSchemas(t *testing.T) {
	schemas := compileSchemas(t)
	entries, err := os.ReadDir(filepath.Join("..", "docs", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range entries {
		m := schemaFile.FindStringSubmatch(ent.Name())
		if m == nil || schemas[m[1]] == nil {
			t.Errorf("docs/schemas/%s describes no known event type", ent.Name())
		}
	}
	for _, typ := range domain.EventTypes() {
		for v := 1; v <= domain.SchemaVersion(typ); v++ {
			f, err := os.Open(fixture(typ, v, true))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := jsonschema.UnmarshalJSON(f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"envelope", typ} {
				if err := schemas[name].Validate(doc); err != nil {
					t.Errorf("%s is invalid under docs/schemas/%s.json: %v", fixture(typ, v, true), name, err)
				}
			}
		}
	}
}

// The schemas are strict where they claim to be: a sample of what they must reject.
func TestEventSchemasReject(t *testing.T) {
	schemas := compileSchemas(t)
	b, err := os.ReadFile(fixture(domain.TypeUserBanned, 2, true))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ schema, old, new string }{
		"extra data field":        {"UserBanned", `"reason":`, `"note": "x", "reason":`},
		"missing required field":  {"UserBanned", `"was_member": false,`, ``},
		"wrong schema_version":    {"UserBanned", `"schema_version": 2`, `"schema_version": 1`},
		"other type's data":       {"RoomDeleted", `"type": "UserBanned"`, `"type": "RoomDeleted"`},
		"bad uuid":                {"UserBanned", `"banned_by": "3a7b9c1d`, `"banned_by": "zz7b9c1d`},
		"bad date-time":           {"envelope", `"occurred_at": "2025-04-10T`, `"occurred_at": "2025-13-10T`},
		"unknown event type":      {"envelope", `"type": "UserBanned"`, `"type": "UserExploded"`},
		"extra envelope field":    {"envelope", `"version":`, `"partition": 3, "version":`},
		"unknown aggregate type":  {"envelope", `"aggregate_type": "room"`, `"aggregate_type": "guild"`},
		"schema_version below 1":  {"envelope", `"schema_version": 2`, `"schema_version": 0`},
		"was_member not boolean":  {"UserBanned", `"was_member": false`, `"was_member": "no"`},
		"reason not a string":     {"UserBanned", `"reason": "banned ahead of the AMA"`, `"reason": 7`},
		"aggregate not of a room": {"UserBanned", `"aggregate_type": "room"`, `"aggregate_type": "user"`},
	} {
		in := strings.Replace(string(b), c.old, c.new, 1)
		if in == string(b) {
			t.Fatalf("%s: %q not in %s", name, c.old, b)
		}
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := schemas[c.schema].Validate(doc); err == nil {
			t.Errorf("%s: docs/schemas/%s.json accepts\n%s", name, c.schema, in)
		}
	}
}
