package domain_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

var aliceID = domain.UserIDFor("alice")

// profile is an update_profile command on alice's user by actor.
func profile(key string, actor uuid.UUID, p domain.UpdateProfile) domain.Command {
	return domain.NewCommand(cid(key), aliceID, actor, "alice", now, p)
}

func profileUpdated(display, avatar, email *string) domain.UserProfileUpdated {
	return domain.UserProfileUpdated{UserID: aliceID, DisplayName: display, AvatarURL: avatar, Email: email, UpdatedAt: nowUTC}
}

func TestUserUpdateProfile(t *testing.T) {
	reg := evs(registered("alice", "Alice", "alice@example.com"))
	longURL := "https://x.example/" + strings.Repeat("a", domain.MaxURLLength-len("https://x.example/"))
	display64 := strings.Repeat("名", 64)
	runScenarios(t, domain.AggregateUser, aliceID, []scenario{
		{name: "display name only", given: reg, when: profile("p1", aliceID, domain.UpdateProfile{DisplayName: str("Al")}),
			then: evs(profileUpdated(str("Al"), nil, nil))},
		{name: "display name stored trimmed", given: reg, when: profile("p2", aliceID, domain.UpdateProfile{DisplayName: str("  Al  ")}),
			then: evs(profileUpdated(str("Al"), nil, nil))},
		{name: "empty display name falls back to the username", given: reg, when: profile("p3", aliceID, domain.UpdateProfile{DisplayName: str(" ")}),
			then: evs(profileUpdated(str("alice"), nil, nil))},
		{name: "display name of 64 characters ok", given: reg, when: profile("p4", aliceID, domain.UpdateProfile{DisplayName: str(display64)}),
			then: evs(profileUpdated(str(display64), nil, nil))},
		{name: "display name of 65 characters: validation_failed", given: reg, when: profile("p5", aliceID, domain.UpdateProfile{DisplayName: str(display64 + "x")}),
			code: domain.CodeValidationFailed},
		{name: "display name not UTF-8: validation_failed", given: reg, when: profile("p6", aliceID, domain.UpdateProfile{DisplayName: str("\xff")}),
			code: domain.CodeValidationFailed},
		{name: "avatar URL", given: reg, when: profile("p7", aliceID, domain.UpdateProfile{AvatarURL: str(" https://cdn.example/a.png ")}),
			then: evs(profileUpdated(nil, str("https://cdn.example/a.png"), nil))},
		{name: "avatar URL of 2048 characters ok", given: reg, when: profile("p8", aliceID, domain.UpdateProfile{AvatarURL: str(longURL)}),
			then: evs(profileUpdated(nil, str(longURL), nil))},
		{name: "avatar URL of 2049 characters: validation_failed", given: reg, when: profile("p9", aliceID, domain.UpdateProfile{AvatarURL: str(longURL + "a")}),
			code: domain.CodeValidationFailed},
		{name: "empty avatar URL clears it", given: reg, when: profile("p10", aliceID, domain.UpdateProfile{AvatarURL: str("")}),
			then: evs(profileUpdated(nil, str(""), nil))},
		{name: "relative avatar URL: validation_failed", given: reg, when: profile("p11", aliceID, domain.UpdateProfile{AvatarURL: str("/a.png")}),
			code: domain.CodeValidationFailed},
		{name: "ftp avatar URL: validation_failed", given: reg, when: profile("p12", aliceID, domain.UpdateProfile{AvatarURL: str("ftp://x/a.png")}),
			code: domain.CodeValidationFailed},
		{name: "javascript avatar URL: validation_failed", given: reg, when: profile("p13", aliceID, domain.UpdateProfile{AvatarURL: str("javascript:alert(1)")}),
			code: domain.CodeValidationFailed},
		{name: "email", given: reg, when: profile("p14", aliceID, domain.UpdateProfile{Email: str(" new@example.com ")}),
			then: evs(profileUpdated(nil, nil, str("new@example.com")))},
		{name: "empty email clears it", given: reg, when: profile("p15", aliceID, domain.UpdateProfile{Email: str("")}),
			then: evs(profileUpdated(nil, nil, str("")))},
		{name: "invalid email: validation_failed", given: reg, when: profile("p16", aliceID, domain.UpdateProfile{Email: str("nope")}),
			code: domain.CodeValidationFailed},
		{name: "email with display-name form: validation_failed", given: reg, when: profile("p17", aliceID, domain.UpdateProfile{Email: str("A <a@example.com>")}),
			code: domain.CodeValidationFailed},
		{name: "all three", given: reg, when: profile("p18", aliceID, domain.UpdateProfile{DisplayName: str("A"), AvatarURL: str("http://a.example/x"), Email: str("a@b.example")}),
			then: evs(profileUpdated(str("A"), str("http://a.example/x"), str("a@b.example")))},
		{name: "one bad field refuses all", given: reg, when: profile("p19", aliceID, domain.UpdateProfile{DisplayName: str("A"), Email: str("bad")}),
			code: domain.CodeValidationFailed},
		{name: "after an earlier update", given: append(reg, profileUpdated(str("Al"), nil, nil)),
			when: profile("p20", aliceID, domain.UpdateProfile{DisplayName: str("Alice")}),
			then: evs(profileUpdated(str("Alice"), nil, nil))},
		{name: "nothing given: validation_failed", given: reg, when: profile("p21", aliceID, domain.UpdateProfile{}),
			code: domain.CodeValidationFailed},
		{name: "another user: forbidden", given: reg, when: profile("p22", domain.UserIDFor("bob"), domain.UpdateProfile{DisplayName: str("x")}),
			code: domain.CodeForbidden},
		{name: "the system actor: forbidden", given: reg, when: profile("p23", domain.SystemActorID, domain.UpdateProfile{DisplayName: str("x")}),
			code: domain.CodeForbidden},
		{name: "another user is refused before validation", given: reg, when: profile("p24", domain.UserIDFor("bob"), domain.UpdateProfile{}),
			code: domain.CodeForbidden},
		{name: "unregistered user: user_not_found", when: profile("p25", aliceID, domain.UpdateProfile{DisplayName: str("x")}),
			code: domain.CodeUserNotFound},
		{name: "unregistered, by someone else: user_not_found", when: profile("p26", domain.UserIDFor("bob"), domain.UpdateProfile{DisplayName: str("x")}),
			code: domain.CodeUserNotFound},
		{name: "register after a profile update: username_taken", given: append(reg, profileUpdated(str("Al"), nil, nil)),
			when: register("p27", domain.RegisterUser{Username: "alice"}), code: domain.CodeUsernameTaken},
		{name: "a room command on a user: validation_failed", given: reg,
			when: domain.NewCommand(cid("p28"), aliceID, aliceID, "alice", now, domain.MarkRead{Seq: 1}), code: domain.CodeValidationFailed},
	})
}

func TestUserApplyAccessors(t *testing.T) {
	u, ok := build(domain.AggregateUser, aliceID,
		registered("Alice", "Alice A.", "a@example.com"),
		profileUpdated(nil, str("https://cdn.example/a.png"), nil),
		profileUpdated(str("Al"), nil, str("")),
	).(*domain.User)
	if !ok {
		t.Fatal("not a *domain.User")
	}
	if !u.IsRegistered() || u.Username() != "Alice" || u.DisplayName() != "Al" || u.Email() != "" || u.AvatarURL() != "https://cdn.example/a.png" || u.Version() != 3 {
		t.Errorf("state: %v %q %q %q %q v%d", u.IsRegistered(), u.Username(), u.DisplayName(), u.Email(), u.AvatarURL(), u.Version())
	}
	// An empty display name falls back to the username as registered (case kept).
	evs, err := u.Decide(profile("fallback", aliceID, domain.UpdateProfile{DisplayName: str("")}), now)
	if err != nil || *evs[0].Data.(domain.UserProfileUpdated).DisplayName != "Alice" {
		t.Errorf("fallback: %v %v", evs, err)
	}
	if n := build(domain.AggregateUser, aliceID).(*domain.User); n.IsRegistered() {
		t.Error("an empty user claims to be registered")
	}
}

func TestUpdateProfileIsAUserCommand(t *testing.T) {
	c := profile("env", aliceID, domain.UpdateProfile{DisplayName: str("x")})
	if c.AggregateType != domain.AggregateUser || c.Type != domain.CmdUpdateProfile {
		t.Errorf("bad envelope %#v", c)
	}
}

// UserProfileUpdated carries no secret either.
func TestUserProfileUpdatedHasNoSecret(t *testing.T) {
	typ := reflect.TypeOf(domain.UserProfileUpdated{})
	for i := 0; i < typ.NumField(); i++ {
		n := strings.ToLower(typ.Field(i).Name + " " + typ.Field(i).Tag.Get("json"))
		if strings.Contains(n, "password") || strings.Contains(n, "hash") || strings.Contains(n, "secret") {
			t.Errorf("UserProfileUpdated has field %s", typ.Field(i).Name)
		}
	}
	b, _ := json.Marshal(profile("s", aliceID, domain.UpdateProfile{DisplayName: str("x"), Email: str("a@b.example")}))
	if strings.Contains(strings.ToLower(string(b)), "password") {
		t.Errorf("update_profile JSON mentions a password: %s", b)
	}
}
