package domain

import "testing"

// Every evolved type has exactly the upcasters from version 1 to its current version, and every
// type named in the version tables is a registered event type (a typo would silently leave a
// type at version 1).
func TestUpcasterChainsAreComplete(t *testing.T) {
	for typ, v := range schemaVersions {
		if _, ok := index.events[typ]; !ok {
			t.Errorf("schemaVersions names unknown event type %q", typ)
		}
		if v <= CurrentSchemaVersion {
			t.Errorf("%s: schemaVersions says %d, no later than the default %d: drop the entry", typ, v, CurrentSchemaVersion)
		}
	}
	for typ, chain := range upcasters {
		if _, ok := index.events[typ]; !ok {
			t.Errorf("upcasters names unknown event type %q", typ)
		}
		for i, up := range chain {
			if up == nil {
				t.Errorf("%s: upcaster from v%d is nil", typ, i+1)
			}
		}
	}
	for _, typ := range EventTypes() {
		if got, want := len(upcasters[typ]), SchemaVersion(typ)-1; got != want {
			t.Errorf("%s is at schema_version %d: %d upcasters, want %d", typ, SchemaVersion(typ), got, want)
		}
	}
}
