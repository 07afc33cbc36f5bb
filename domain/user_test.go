package domain_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// register is a RegisterUser command addressed to the aggregate of UserIDFor(username).
func register(key string, p domain.RegisterUser) domain.Command {
	id := domain.UserIDFor(p.Username)
	return domain.NewCommand(cid(key), id, id, p.Username, now, p)
}

// registerAt addresses the command to an explicit aggregate id.
func registerAt(key string, aggID uuid.UUID, p domain.RegisterUser) domain.Command {
	return domain.NewCommand(cid(key), aggID, aggID, p.Username, now, p)
}

func registered(username, display, email string) domain.UserRegistered {
	return domain.UserRegistered{UserID: domain.UserIDFor(username), Username: username, DisplayName: display,
		Email: email, RegisteredAt: nowUTC}
}

func TestUserRegister(t *testing.T) {
	name32 := strings.Repeat("a", 32)
	display64 := strings.Repeat("名", 64)
	aliceGiven := []domain.EventData{registered("alice", "alice", "")}

	cases := []scenario{
		{name: "registers; display name defaults to username",
			when: register("u1", domain.RegisterUser{Username: "alice"}),
			then: []domain.EventData{registered("alice", "alice", "")}},
		{name: "whitespace-only display name defaults to username",
			when: register("u2", domain.RegisterUser{Username: "alice", DisplayName: "  \t "}),
			then: []domain.EventData{registered("alice", "alice", "")}},
		{name: "display name stored trimmed",
			when: register("u3", domain.RegisterUser{Username: "alice", DisplayName: "  Alice A.  "}),
			then: []domain.EventData{registered("alice", "Alice A.", "")}},
		{name: "username case is kept",
			when: register("u4", domain.RegisterUser{Username: "Alice"}),
			then: []domain.EventData{domain.UserRegistered{UserID: domain.UserIDFor("alice"), Username: "Alice", DisplayName: "Alice", RegisteredAt: nowUTC}}},
		{name: "display name of 64 characters ok",
			when: register("u5", domain.RegisterUser{Username: "alice", DisplayName: display64}),
			then: []domain.EventData{registered("alice", display64, "")}},
		{name: "display name of 65 characters rejected",
			when: register("u6", domain.RegisterUser{Username: "alice", DisplayName: display64 + "x"}),
			code: domain.CodeValidationFailed},
		{name: "valid email",
			when: register("u7", domain.RegisterUser{Username: "alice", Email: "alice@example.com"}),
			then: []domain.EventData{registered("alice", "alice", "alice@example.com")}},
		{name: "email stored trimmed",
			when: register("u8", domain.RegisterUser{Username: "alice", Email: "  alice@example.com "}),
			then: []domain.EventData{registered("alice", "alice", "alice@example.com")}},
		{name: "email without @ rejected",
			when: register("u9", domain.RegisterUser{Username: "alice", Email: "not-an-email"}),
			code: domain.CodeValidationFailed},
		{name: "email without domain rejected",
			when: register("u10", domain.RegisterUser{Username: "alice", Email: "alice@"}),
			code: domain.CodeValidationFailed},
		{name: "email with display-name form rejected",
			when: register("u11", domain.RegisterUser{Username: "alice", Email: "Alice <alice@example.com>"}),
			code: domain.CodeValidationFailed},
		{name: "two addresses rejected",
			when: register("u12", domain.RegisterUser{Username: "alice", Email: "a@example.com, b@example.com"}),
			code: domain.CodeValidationFailed},
		{name: "email over 254 characters rejected",
			when: register("u13", domain.RegisterUser{Username: "alice", Email: strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190) + ".com"}),
			code: domain.CodeValidationFailed},
		{name: "username of 3 characters ok",
			when: register("u14", domain.RegisterUser{Username: "abc"}),
			then: []domain.EventData{registered("abc", "abc", "")}},
		{name: "username of 32 characters ok",
			when: register("u15", domain.RegisterUser{Username: name32}),
			then: []domain.EventData{registered(name32, name32, "")}},
		{name: "all allowed characters",
			when: register("u16", domain.RegisterUser{Username: "aZ09_.-"}),
			then: []domain.EventData{registered("aZ09_.-", "aZ09_.-", "")}},
		{name: "username of 2 characters rejected",
			when: register("u17", domain.RegisterUser{Username: "ab"}), code: domain.CodeValidationFailed},
		{name: "empty username rejected",
			when: register("u18", domain.RegisterUser{Username: ""}), code: domain.CodeValidationFailed},
		{name: "username of 33 characters rejected",
			when: register("u19", domain.RegisterUser{Username: name32 + "a"}), code: domain.CodeValidationFailed},
		{name: "username with space rejected",
			when: register("u20", domain.RegisterUser{Username: "al ice"}), code: domain.CodeValidationFailed},
		{name: "username with surrounding spaces rejected",
			when: register("u21", domain.RegisterUser{Username: " alice "}), code: domain.CodeValidationFailed},
		{name: "username with @ rejected",
			when: register("u22", domain.RegisterUser{Username: "al@ce"}), code: domain.CodeValidationFailed},
		{name: "username with non-ASCII letter rejected",
			when: register("u23", domain.RegisterUser{Username: "ålice"}), code: domain.CodeValidationFailed},
		{name: "three non-ASCII letters rejected",
			when: register("u24", domain.RegisterUser{Username: "名前だ"}), code: domain.CodeValidationFailed},
		{name: "username with slash rejected",
			when: register("u25", domain.RegisterUser{Username: "a/b/c"}), code: domain.CodeValidationFailed},
		{name: "username with NUL rejected",
			when: register("u26", domain.RegisterUser{Username: "ali\x00ce"}), code: domain.CodeValidationFailed},
		{name: "aggregate id must equal UserIDFor(username)",
			when: registerAt("u27", domain.UserIDFor("bob"), domain.RegisterUser{Username: "alice"}),
			code: domain.CodeValidationFailed},
		{name: "aggregate id random uuid rejected",
			when: registerAt("u28", alice, domain.RegisterUser{Username: "alice"}),
			code: domain.CodeValidationFailed},
		{name: "aggregate id of the lower-cased name accepts any case",
			when: registerAt("u29", domain.UserIDFor("alice"), domain.RegisterUser{Username: "ALICE"}),
			then: []domain.EventData{domain.UserRegistered{UserID: domain.UserIDFor("alice"), Username: "ALICE", DisplayName: "ALICE", RegisteredAt: nowUTC}}},
		{name: "second registration: username_taken",
			given: aliceGiven,
			when:  register("u30", domain.RegisterUser{Username: "alice"}),
			code:  domain.CodeUsernameTaken},
		{name: "second registration in another case: username_taken",
			given: aliceGiven,
			when:  register("u31", domain.RegisterUser{Username: "ALICE", DisplayName: "Imposter"}),
			code:  domain.CodeUsernameTaken},
		{name: "non-register command on a user rejected",
			when: domain.NewCommand(cid("u32"), domain.UserIDFor("alice"), alice, "alice", now, domain.JoinRoom{}),
			code: domain.CodeValidationFailed},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			agg := build(domain.AggregateUser, tc.when.AggregateID, tc.given...)
			if _, ok := agg.(*domain.User); !ok {
				t.Fatalf("NewAggregate(user) gave %T", agg)
			}
			checkDecide(t, agg, int64(len(tc.given)), tc.when, tc.then, tc.code)
		})
	}
}

func TestRegisterDeterministic(t *testing.T) {
	cmd := register("det", domain.RegisterUser{Username: "dora", Email: "d@example.com"})
	a, err1 := domain.NewAggregate(domain.AggregateUser, cmd.AggregateID).Decide(cmd, now)
	b, err2 := domain.NewAggregate(domain.AggregateUser, cmd.AggregateID).Decide(cmd, now)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("same command gave different answers: %v %v / %v %v", a, err1, b, err2)
	}
	if a[0].ID != domain.EventID(cmd.ID, 0) || a[0].Version != 1 || a[0].AggregateType != domain.AggregateUser {
		t.Errorf("bad envelope %#v", a[0])
	}
}

func TestUserIDFor(t *testing.T) {
	id := domain.UserIDFor("alice")
	for _, v := range []string{"Alice", "ALICE", "aLiCe"} {
		if domain.UserIDFor(v) != id {
			t.Errorf("UserIDFor(%q) != UserIDFor(%q)", v, "alice")
		}
	}
	if domain.UserIDFor("bob") == id || domain.UserIDFor("alice2") == id {
		t.Error("different usernames share an id")
	}
	if id.Version() != 5 {
		t.Errorf("UserIDFor is a v%d uuid, want a name-based v5", id.Version())
	}
	if id != domain.UserIDFor("alice") {
		t.Error("UserIDFor is not deterministic")
	}
}

// UserRegistered carries no password and no hash: not as a Go field, not as a JSON key.
func TestUserRegisteredHasNoSecret(t *testing.T) {
	typ := reflect.TypeOf(domain.UserRegistered{})
	for i := 0; i < typ.NumField(); i++ {
		n := strings.ToLower(typ.Field(i).Name + " " + typ.Field(i).Tag.Get("json"))
		if strings.Contains(n, "password") || strings.Contains(n, "hash") || strings.Contains(n, "secret") {
			t.Errorf("UserRegistered has field %s", typ.Field(i).Name)
		}
	}

	cmd := register("secret", domain.RegisterUser{Username: "alice", DisplayName: "Alice", Email: "a@example.com"})
	evs, err := domain.NewAggregate(domain.AggregateUser, cmd.AggregateID).Decide(cmd, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	walkKeys(v, func(k string) {
		if l := strings.ToLower(k); strings.Contains(l, "password") || strings.Contains(l, "hash") {
			t.Errorf("UserRegistered JSON has key %q: %s", k, b)
		}
	})

	// The command itself has no place for a password either.
	b, _ = json.Marshal(cmd)
	if strings.Contains(strings.ToLower(string(b)), "password") {
		t.Errorf("register_user command JSON mentions a password: %s", b)
	}
}

func walkKeys(v any, f func(string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			f(k)
			walkKeys(e, f)
		}
	case []any:
		for _, e := range x {
			walkKeys(e, f)
		}
	}
}
