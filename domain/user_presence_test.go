package domain_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

func presence(key string, online bool, at time.Time, cause string) domain.Command {
	return domain.NewCommand(cid(key), domain.UserIDFor("alice"), domain.SystemActorID, "", now,
		domain.RecordPresence{Online: online, At: at, Cause: cause})
}

func reconciled(key string, since, at time.Time) domain.Command {
	return domain.NewCommand(cid(key), domain.UserIDFor("alice"), domain.SystemActorID, "", now,
		domain.RecordPresence{At: at, Cause: domain.OfflineReconciled, Since: &since})
}

func TestUserPresence(t *testing.T) {
	alice := domain.UserIDFor("alice")
	t1, t2, t3 := nowUTC.Add(-3*time.Hour), nowUTC.Add(-2*time.Hour), nowUTC.Add(-time.Hour)
	reg := registered("alice", "alice", "")
	on := func(at time.Time) domain.UserCameOnline { return domain.UserCameOnline{UserID: alice, At: at} }
	off := func(since, at time.Time, cause string) domain.UserWentOffline {
		return domain.UserWentOffline{UserID: alice, Since: since, At: at, Cause: cause}
	}
	cases := []scenario{
		{name: "online opens a session", given: []domain.EventData{reg},
			when: presence("p1", true, t1, ""), then: []domain.EventData{on(t1)}},
		{name: "offline ends it where its socket left", given: []domain.EventData{reg, on(t1)},
			when: presence("p2", false, t2, domain.OfflineLeft), then: []domain.EventData{off(t1, t2, domain.OfflineLeft)}},
		{name: "an expired entry ends it at its last refresh", given: []domain.EventData{reg, on(t1)},
			when: presence("p3", false, t2, domain.OfflineExpired), then: []domain.EventData{off(t1, t2, domain.OfflineExpired)}},
		{name: "online while online supersedes the dangling session", given: []domain.EventData{reg, on(t1)},
			when: presence("p4", true, t3, ""), then: []domain.EventData{off(t1, t3, domain.OfflineSuperseded), on(t3)}},
		{name: "a late online of the open session is a no-op", given: []domain.EventData{reg, on(t2)},
			when: presence("p5", true, t1, ""), then: []domain.EventData{}},
		{name: "offline while offline is a no-op", given: []domain.EventData{reg},
			when: presence("p6", false, t1, domain.OfflineLeft), then: []domain.EventData{}},
		{name: "a late offline of an earlier session is a no-op", given: []domain.EventData{reg, on(t2)},
			when: presence("p7", false, t1, domain.OfflineLeft), then: []domain.EventData{}},
		{name: "an offline at the session's start ends it empty", given: []domain.EventData{reg, on(t2)},
			when: presence("p8", false, t2, domain.OfflineLeft), then: []domain.EventData{off(t2, t2, domain.OfflineLeft)}},
		{name: "only the server records presence", given: []domain.EventData{reg},
			when: domain.NewCommand(cid("p9"), alice, alice, "alice", now, domain.RecordPresence{Online: true, At: t1}),
			code: domain.CodeForbidden},
		{name: "an unregistered user has no presence",
			when: presence("p10", true, t1, ""), code: domain.CodeUserNotFound},
		{name: "a transition without its time", given: []domain.EventData{reg},
			when: presence("p11", true, time.Time{}, ""), code: domain.CodeValidationFailed},
		{name: "a transition dated in the future", given: []domain.EventData{reg},
			when: presence("p12", true, nowUTC.Add(2*time.Minute), ""), code: domain.CodeValidationFailed},
		{name: "an offline without its cause", given: []domain.EventData{reg, on(t1)},
			when: presence("p13", false, t2, ""), code: domain.CodeValidationFailed},
		{name: "an offline cannot claim superseded", given: []domain.EventData{reg, on(t1)},
			when: presence("p14", false, t2, domain.OfflineSuperseded), code: domain.CodeValidationFailed},

		// Reconciled: the offline names the session it ends.
		{name: "a reconciled offline ends the session it names at the last activity", given: []domain.EventData{reg, on(t1)},
			when: reconciled("r1", t1, t2), then: []domain.EventData{off(t1, t2, domain.OfflineReconciled)}},
		{name: "a reconciled offline never ends a session before its start", given: []domain.EventData{reg, on(t2)},
			when: reconciled("r2", t2, t1), then: []domain.EventData{off(t2, t2, domain.OfflineReconciled)}},
		{name: "a session read back in microseconds is the same session", given: []domain.EventData{reg, on(t1.Add(123456789))},
			when: reconciled("r3", t1.Add(123456789).Truncate(time.Microsecond), t2),
			then: []domain.EventData{off(t1.Add(123456789), t2, domain.OfflineReconciled)}},
		{name: "a reconciled offline of a session already ended is a no-op", given: []domain.EventData{reg, on(t1), off(t1, t2, domain.OfflineLeft)},
			when: reconciled("r4", t1, t2), then: []domain.EventData{}},
		{name: "a reconciled offline never ends a newer session", given: []domain.EventData{reg, on(t1), off(t1, t2, domain.OfflineSuperseded), on(t2)},
			when: reconciled("r5", t1, t3), then: []domain.EventData{}},
		{name: "a reconciled offline must name its session", given: []domain.EventData{reg, on(t1)},
			when: presence("r6", false, t2, domain.OfflineReconciled), code: domain.CodeValidationFailed},
		{name: "only a reconciled offline names a session", given: []domain.EventData{reg, on(t1)},
			when: domain.NewCommand(cid("r7"), alice, domain.SystemActorID, "", now,
				domain.RecordPresence{At: t2, Cause: domain.OfflineLeft, Since: &t1}), code: domain.CodeValidationFailed},
		{name: "an online names no session", given: []domain.EventData{reg},
			when: domain.NewCommand(cid("r8"), alice, domain.SystemActorID, "", now,
				domain.RecordPresence{Online: true, At: t2, Since: &t1}), code: domain.CodeValidationFailed},
	}
	runScenarios(t, domain.AggregateUser, alice, cases)
}

// The open session survives a snapshot: a restored user closes it as the original would.
func TestUserPresenceSnapshot(t *testing.T) {
	alice := domain.UserIDFor("alice")
	t1 := nowUTC.Add(-time.Hour)
	u := build(domain.AggregateUser, alice, registered("alice", "alice", ""), domain.UserCameOnline{UserID: alice, At: t1}).(*domain.User)
	back := domain.RestoreUser(u.Snapshot())
	if since, ok := back.OnlineSince(); !ok || !since.Equal(t1) {
		t.Fatalf("restored session since %v (%v), want %v", since, ok, t1)
	}
	u2 := build(domain.AggregateUser, alice, registered("alice", "alice", "")).(*domain.User)
	if _, ok := domain.RestoreUser(u2.Snapshot()).OnlineSince(); ok {
		t.Fatal("an offline user restored online")
	}
}

// A retried transition is the same command; another socket, direction or time is another.
func TestPresenceCommandID(t *testing.T) {
	u := uuid.MustParse("8d4e5f6a-7b8c-4d9e-a0f1-b2c3d4e5f6a7")
	at := time.Date(2025, 3, 21, 8, 0, 0, 0, time.UTC)
	id := domain.PresenceCommandID(u, "c1", true, at)
	if id != domain.PresenceCommandID(u, "c1", true, at.In(time.FixedZone("X", 3600))) {
		t.Error("the same transition in another zone has another id")
	}
	for name, other := range map[string]uuid.UUID{
		"conn": domain.PresenceCommandID(u, "c2", true, at), "direction": domain.PresenceCommandID(u, "c1", false, at),
		"time": domain.PresenceCommandID(u, "c1", true, at.Add(time.Millisecond)),
	} {
		if other == id {
			t.Errorf("another %s, the same id", name)
		}
	}
}
