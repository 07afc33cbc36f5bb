package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

// randomRoomCommand is a command on room by one of users, valid or not: the mix reaches every
// kind of state (members with roles, bans, invitations, markers, edited and deleted messages).
func randomRoomCommand(rng *rand.Rand, room *Room, users []uuid.UUID, msgs []uuid.UUID) Command {
	actor := users[rng.IntN(len(users))]
	other := users[rng.IntN(len(users))]
	name := fmt.Sprint("u", actor[0])
	var p CommandData
	switch rng.IntN(14) {
	case 0:
		p = CreateRoom{Name: "room", Description: "d", IsPrivate: rng.IntN(2) == 0, PasswordHash: []string{"", "h"}[rng.IntN(2)]}
	case 1:
		n := fmt.Sprint("name", rng.IntN(5))
		p = UpdateRoom{Name: &n}
	case 2, 3:
		p = JoinRoom{PasswordHash: []string{"", "h"}[rng.IntN(2)]}
	case 4:
		p = LeaveRoom{}
	case 5:
		p = SetRole{UserID: other, Role: []string{RoleAdmin, RoleMember}[rng.IntN(2)]}
	case 6:
		p = KickMember{UserID: other}
	case 7:
		p = BanMember{UserID: other}
	case 8:
		p = UnbanMember{UserID: other}
	case 9:
		p = InviteUser{UserID: other}
	case 10:
		var reply *uuid.UUID
		if len(msgs) > 0 && rng.IntN(3) == 0 {
			id := msgs[rng.IntN(len(msgs))]
			reply = &id
		}
		p = SendMessage{Content: fmt.Sprint("hello ", rng.IntN(100)), ReplyToMessageID: reply}
	case 11:
		if len(msgs) > 0 {
			p = EditMessage{MessageID: msgs[rng.IntN(len(msgs))], Content: "edited"}
		} else {
			p = MarkRead{Seq: 1}
		}
	case 12:
		if len(msgs) > 0 && rng.IntN(4) == 0 {
			p = DeleteMessage{MessageID: msgs[rng.IntN(len(msgs))]}
		} else {
			p = SendMessage{Content: "again"}
		}
	default:
		p = MarkRead{Seq: int64(rng.IntN(int(room.LastSeq()) + 2))}
	}
	return NewCommand(uuid.New(), room.id, actor, name, time.Unix(1_700_000_000+int64(rng.IntN(1000)), 0), p)
}

// sorted puts a snapshot's slices in one order, so that two snapshots of one state compare equal.
func sorted(s RoomSnapshot) RoomSnapshot {
	less := func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }
	slices.SortFunc(s.Members, func(a, b MemberSnapshot) int { return less(a.UserID, b.UserID) })
	slices.SortFunc(s.Banned, less)
	slices.SortFunc(s.Invited, less)
	slices.SortFunc(s.ReadMarkers, func(a, b MarkerSnapshot) int { return less(a.UserID, b.UserID) })
	slices.SortFunc(s.Messages, func(a, b MessageSnapshot) int { return less(a.ID, b.ID) })
	return s
}

func TestRoomSnapshotRoundTripsExactly(t *testing.T) {
	var reached struct{ banned, invited, markers, deletedMsgs, replies, admins int }
	defer func() {
		// The random histories must reach every part of the state, or the test proves little.
		if reached.banned == 0 || reached.invited == 0 || reached.markers == 0 || reached.deletedMsgs == 0 || reached.replies == 0 || reached.admins == 0 {
			t.Errorf("random histories did not reach every kind of state: %+v", reached)
		}
	}()
	for seed := uint64(0); seed < 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		users := make([]uuid.UUID, 6)
		for i := range users {
			users[i] = uuid.New()
		}
		room := NewRoom(uuid.New())
		var msgs []uuid.UUID
		// Created first, so that the rest mostly lands.
		evs, err := room.Decide(NewCommand(uuid.New(), room.id, users[0], "owner", time.Unix(1_700_000_000, 0), CreateRoom{Name: "r", IsPrivate: seed%2 == 0, PasswordHash: map[bool]string{true: "h"}[seed%2 == 0]}), time.Unix(1_700_000_000, 0))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			room.Apply(e)
		}
		for i := 0; i < 300; i++ {
			cmd := randomRoomCommand(rng, room, users, msgs)
			evs, err := room.Decide(cmd, cmd.IssuedAt)
			if err != nil {
				continue
			}
			for _, e := range evs {
				room.Apply(e)
				if ms, ok := e.Data.(MessageSent); ok {
					msgs = append(msgs, ms.Message.ID)
				}
			}
		}
		snap := room.Snapshot()
		reached.banned += len(snap.Banned)
		reached.invited += len(snap.Invited)
		reached.markers += len(snap.ReadMarkers)
		for _, m := range snap.Messages {
			if m.Deleted {
				reached.deletedMsgs++
			}
			if m.ReplyTo != nil {
				reached.replies++
			}
		}
		for _, m := range snap.Members {
			if m.Role == RoleAdmin {
				reached.admins++
			}
		}
		b, err := json.Marshal(snap)
		if err != nil {
			t.Fatal(err)
		}
		var s RoomSnapshot
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		restored := RestoreRoom(s)
		if !reflect.DeepEqual(sorted(restored.Snapshot()), sorted(room.Snapshot())) {
			t.Fatalf("seed %d: restored snapshot differs", seed)
		}
		// Every probe is decided identically by the original and the restored room.
		probe := rand.New(rand.NewPCG(seed, 99))
		for i := 0; i < 200; i++ {
			cmd := randomRoomCommand(probe, room, users, append(msgs, uuid.New()))
			e1, err1 := room.Decide(cmd, cmd.IssuedAt)
			e2, err2 := restored.Decide(cmd, cmd.IssuedAt)
			if fmt.Sprint(err1) != fmt.Sprint(err2) || !reflect.DeepEqual(e1, e2) {
				t.Fatalf("seed %d probe %d (%s): original %v %+v, restored %v %+v", seed, i, cmd.Type, err1, e1, err2, e2)
			}
			if err1 == nil {
				for _, e := range e1 {
					room.Apply(e)
					restored.Apply(e)
				}
			}
		}
		if !reflect.DeepEqual(sorted(restored.Snapshot()), sorted(room.Snapshot())) {
			t.Fatalf("seed %d: states diverged after the probes", seed)
		}
	}
}

func TestUserAndSystemSnapshotsRoundTrip(t *testing.T) {
	u := &User{id: UserIDFor("alice")}
	evs, err := u.Decide(NewCommand(uuid.New(), u.id, uuid.Nil, "alice", time.Now(), RegisterUser{Username: "alice", DisplayName: "Alice", Email: "a@example.com"}), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	u.Apply(evs[0])
	avatar := "https://example.com/a.png"
	evs, err = u.Decide(NewCommand(uuid.New(), u.id, u.id, "alice", time.Now(), UpdateProfile{AvatarURL: &avatar}), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	u.Apply(evs[0])
	sys := NewSystem(SystemAggregateID)
	evs, err = sys.Decide(NewCommand(uuid.New(), SystemAggregateID, uuid.New(), "admin", time.Now(), PublishSystemEvent{Kind: SystemMaintenance, Message: "soon"}), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sys.Apply(evs[0])
	for _, a := range []Aggregate{u, sys, NewRoom(uuid.New())} {
		s, err := SnapshotAggregate(a)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(s)
		var back AggregateSnapshot
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		r, err := RestoreAggregate(back)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r, a) {
			t.Fatalf("%T: restored %+v, want %+v", a, r, a)
		}
	}
	if _, err := RestoreAggregate(AggregateSnapshot{Type: AggregateRoom}); err == nil {
		t.Fatal("a room snapshot without its state was restored")
	}
	// Taken by value: a change of the room after the snapshot does not reach it.
	if u.Snapshot().AvatarURL != avatar || sys.Snapshot().Published != 1 {
		t.Fatalf("snapshots lost state: %+v %+v", u.Snapshot(), sys.Snapshot())
	}
}
