package domain_test

import (
	"os"
	"strings"
	"testing"

	"github.com/chorus-chat/chorus/domain"
)

// docs/events.md is the reference of the event types: every registered type has its section.
func TestEveryEventTypeIsDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, typ := range domain.EventTypes() {
		if !strings.Contains(doc, "\n### "+typ+"\n") {
			t.Errorf("docs/events.md has no section for %s", typ)
		}
	}
}
