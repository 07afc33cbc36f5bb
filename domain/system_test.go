package domain_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// systemCmd is a publish_system_event on the system aggregate by actor, with id cid(key).
func systemCmd(key string, actor uuid.UUID, p domain.PublishSystemEvent) domain.Command {
	return domain.NewCommand(cid(key), domain.SystemAggregateID, actor, names[actor], now, p)
}

func published(kind, msg, data string, by uuid.UUID) domain.SystemEventPublished {
	var raw json.RawMessage
	if data != "" {
		raw = json.RawMessage(data)
	}
	return domain.SystemEventPublished{Kind: kind, Message: msg, Data: raw, PublishedBy: by, PublishedAt: nowUTC}
}

func TestSystemPublish(t *testing.T) {
	long := strings.Repeat("界", domain.MaxSystemMessageRunes)
	earlier := []domain.EventData{published(domain.SystemMaintenance, "earlier", "", alice)}
	cases := []scenario{
		{name: "maintenance without data",
			when: systemCmd("s1", alice, domain.PublishSystemEvent{Kind: domain.SystemMaintenance, Message: "down at 22:00"}),
			then: []domain.EventData{published(domain.SystemMaintenance, "down at 22:00", "", alice)}},
		{name: "every type is accepted: system_update",
			when: systemCmd("s2", alice, domain.PublishSystemEvent{Kind: domain.SystemUpdate, Message: "v2"}),
			then: []domain.EventData{published(domain.SystemUpdate, "v2", "", alice)}},
		{name: "every type is accepted: security_alert",
			when: systemCmd("s3", bob, domain.PublishSystemEvent{Kind: domain.SystemSecurityAlert, Message: "rotate your password"}),
			then: []domain.EventData{published(domain.SystemSecurityAlert, "rotate your password", "", bob)}},
		{name: "every type is accepted: feature_update",
			when: systemCmd("s4", alice, domain.PublishSystemEvent{Kind: domain.SystemFeatureUpdate, Message: "threads!"}),
			then: []domain.EventData{published(domain.SystemFeatureUpdate, "threads!", "", alice)}},
		{name: "message stored trimmed, data compacted",
			when: systemCmd("s5", alice, domain.PublishSystemEvent{Kind: domain.SystemMaintenance, Message: "  soon \n",
				Data: json.RawMessage(` { "starts_at" : "22:00", "minutes": [1, 2] } `)}),
			then: []domain.EventData{published(domain.SystemMaintenance, "soon", `{"starts_at":"22:00","minutes":[1,2]}`, alice)}},
		{name: "null data is no data",
			when: systemCmd("s6", alice, domain.PublishSystemEvent{Kind: domain.SystemMaintenance, Message: "m", Data: json.RawMessage("null")}),
			then: []domain.EventData{published(domain.SystemMaintenance, "m", "", alice)}},
		{name: "a scalar is data too",
			when: systemCmd("s7", alice, domain.PublishSystemEvent{Kind: domain.SystemMaintenance, Message: "m", Data: json.RawMessage(`42`)}),
			then: []domain.EventData{published(domain.SystemMaintenance, "m", "42", alice)}},
		{name: "later events number on",
			given: earlier,
			when:  systemCmd("s8", alice, domain.PublishSystemEvent{Kind: domain.SystemUpdate, Message: "again"}),
			then:  []domain.EventData{published(domain.SystemUpdate, "again", "", alice)}},
		{name: "message of the maximum length",
			when: systemCmd("s9", alice, domain.PublishSystemEvent{Kind: domain.SystemUpdate, Message: long}),
			then: []domain.EventData{published(domain.SystemUpdate, long, "", alice)}},

		{name: "unknown event type",
			when: systemCmd("r1", alice, domain.PublishSystemEvent{Kind: "party", Message: "m"}), code: domain.CodeValidationFailed},
		{name: "the seed's CamelCase name is not the wire value",
			when: systemCmd("r2", alice, domain.PublishSystemEvent{Kind: "SecurityAlert", Message: "m"}), code: domain.CodeValidationFailed},
		{name: "empty event type",
			when: systemCmd("r3", alice, domain.PublishSystemEvent{Message: "m"}), code: domain.CodeValidationFailed},
		{name: "empty message",
			when: systemCmd("r4", alice, domain.PublishSystemEvent{Kind: domain.SystemMaintenance}), code: domain.CodeValidationFailed},
		{name: "whitespace message",
			when: systemCmd("r5", alice, domain.PublishSystemEvent{Kind: domain.SystemMaintenance, Message: " \t\n"}), code: domain.CodeValidationFailed},
		{name: "message too long",
			when: systemCmd("r6", alice, domain.PublishSystemEvent{Kind: domain.SystemMaintenance, Message: long + "x"}), code: domain.CodeValidationFailed},
		{name: "message not UTF-8",
			when: systemCmd("r7", alice, domain.PublishSystemEvent{Kind: domain.SystemMaintenance, Message: "a\xffb"}), code: domain.CodeValidationFailed},
		{name: "data not JSON",
			when: systemCmd("r8", alice, domain.PublishSystemEvent{Kind: domain.SystemMaintenance, Message: "m", Data: json.RawMessage(`{nope`)}), code: domain.CodeValidationFailed},
		{name: "data too large",
			when: systemCmd("r9", alice, domain.PublishSystemEvent{Kind: domain.SystemMaintenance, Message: "m",
				Data: json.RawMessage(`"` + strings.Repeat("x", domain.MaxSystemDataBytes) + `"`)}), code: domain.CodeValidationFailed},
		{name: "no publisher",
			when: domain.NewCommand(cid("r10"), domain.SystemAggregateID, uuid.Nil, "", now,
				domain.PublishSystemEvent{Kind: domain.SystemMaintenance, Message: "m"}), code: domain.CodeForbidden},
		{name: "another aggregate id",
			when: domain.NewCommand(cid("r11"), roomID, alice, "alice", now,
				domain.PublishSystemEvent{Kind: domain.SystemMaintenance, Message: "m"}), code: domain.CodeValidationFailed},
		{name: "a room command does not apply to the system",
			when: domain.NewCommand(cid("r12"), domain.SystemAggregateID, alice, "alice", now, domain.SendMessage{Content: "hi"}),
			code: domain.CodeValidationFailed},
	}
	runScenarios(t, domain.AggregateSystem, domain.SystemAggregateID, cases)
}

// A publish command addresses the system aggregate, and a fresh aggregate of that type is the
// system aggregate with no event.
func TestSystemAggregateRouting(t *testing.T) {
	cmd := systemCmd("route", alice, domain.PublishSystemEvent{Kind: domain.SystemMaintenance, Message: "m"})
	if cmd.AggregateType != domain.AggregateSystem || cmd.Type != domain.CmdPublishSystemEvent {
		t.Fatalf("command envelope %+v", cmd)
	}
	agg := domain.NewAggregate(domain.AggregateSystem, domain.SystemAggregateID)
	sys, ok := agg.(*domain.System)
	if !ok || sys.Version() != 0 || sys.Published() != 0 {
		t.Fatalf("NewAggregate(system) = %#v", agg)
	}
	evs, err := agg.Decide(cmd, now)
	if err != nil || len(evs) != 1 {
		t.Fatalf("decide: %v %v", evs, err)
	}
	agg.Apply(evs[0])
	if sys.Version() != 1 || sys.Published() != 1 {
		t.Fatalf("after one event: version %d published %d", sys.Version(), sys.Published())
	}
	if evs[0].AggregateType != domain.AggregateSystem || evs[0].AggregateID != domain.SystemAggregateID {
		t.Fatalf("event envelope %+v", evs[0])
	}
}

// The command and the event travel as snake_case JSON and come back as the same values.
func TestSystemJSON(t *testing.T) {
	cmd := systemCmd("json", alice, domain.PublishSystemEvent{Kind: domain.SystemSecurityAlert, Message: "m",
		Data: json.RawMessage(`{"cve":"CVE-1"}`)})
	b, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	var back domain.Command
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if !reflect.DeepEqual(back, cmd) {
		t.Fatalf("command round trip\n got %#v\nwant %#v", back, cmd)
	}
	if keys := jsonKeys(t, cmd.Payload); !reflect.DeepEqual(keys, []string{"data", "event_type", "message"}) {
		t.Errorf("command payload keys %v", keys)
	}

	for _, data := range []string{`{"cve":"CVE-1"}`, ""} {
		evs, err := domain.NewSystem(domain.SystemAggregateID).Decide(systemCmd("json-ev", alice,
			domain.PublishSystemEvent{Kind: domain.SystemSecurityAlert, Message: "m", Data: json.RawMessage(data)}), now)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(evs[0])
		if err != nil {
			t.Fatal(err)
		}
		var got domain.Event
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if !reflect.DeepEqual(got, evs[0]) {
			t.Errorf("event round trip\n got %#v\nwant %#v", got, evs[0])
		}
		if _, ok := got.Data.(domain.SystemEventPublished); !ok {
			t.Errorf("data decoded as %T", got.Data)
		}
		if keys := jsonKeys(t, evs[0].Data); !reflect.DeepEqual(keys, []string{"data", "event_type", "message", "published_at", "published_by"}) {
			t.Errorf("event data keys %v", keys)
		}
		if data == "" && !strings.Contains(string(b), `"data":null`) {
			t.Errorf("an event without data says so with null: %s", b)
		}
	}
	found := false
	for _, typ := range domain.EventTypes() {
		found = found || typ == domain.TypeSystemEventPublished
	}
	if !found {
		t.Errorf("EventTypes() lacks %s", domain.TypeSystemEventPublished)
	}
}

func jsonKeys(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
