package main_test

// End to end on a Redis Cluster: the distributed processes share a real three-master cluster
// (redistest) instead of one Redis, through CHORUS_REDIS_URL=redis+cluster://...

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/adapters/redis/redistest"
)

func TestE2ERedisCluster(t *testing.T) {
	skipShort(t)
	rc := redistest.SharedCluster(t)
	c := startRoutedOn(t, rc.URL())
	sfx := randomHex(3)

	// Replies cross processes through the cluster's pub/sub, pushes through its stream.
	t.Run("CrossGatewayDelivery", func(t *testing.T) { testCrossGatewayDelivery(t, c, sfx) })
	// The presence scripts run on the cluster (their keys in the push stream's slot).
	t.Run("PresenceAcrossGateways", func(t *testing.T) { testPresenceAcrossGateways(t, c, sfx) })
	t.Run("JoinFromAnotherGateway", func(t *testing.T) { testJoinFromAnotherGateway(t, c, sfx) })
	t.Run("FailoverDuringTraffic", func(t *testing.T) {
		testRedisFailoverDuringTraffic(t, c, sfx, func(ctx context.Context, room string) error {
			// The master of the room's shard, which carries its messages.
			from, to, err := rc.Failover(ctx, pushShard(t, c.redisURL, c.prefix, room))
			t.Logf("the room's push shard's master %s failed over to %s", from, to)
			return err
		})
	})
}

// TestE2ERedisSentinel runs the distributed processes on a Sentinel-managed master and replica
// (redistest), CHORUS_REDIS_URL=redis+sentinel://..., with routed pushes, through a failover the
// Sentinel makes during traffic.
func TestE2ERedisSentinel(t *testing.T) {
	skipShort(t)
	s := redistest.SentinelFor(t)
	c := startRoutedOn(t, s.URL())
	sfx := randomHex(3)
	t.Run("CrossGatewayDelivery", func(t *testing.T) { testCrossGatewayDelivery(t, c, sfx) })
	t.Run("JoinFromAnotherGateway", func(t *testing.T) { testJoinFromAnotherGateway(t, c, sfx) })
	t.Run("FailoverDuringTraffic", func(t *testing.T) {
		testRedisFailoverDuringTraffic(t, c, sfx, func(ctx context.Context, _ string) error {
			to, err := s.Failover(ctx)
			t.Logf("the Sentinel promoted %s", to)
			return err
		})
	})
}

// e2ePushShards is CHORUS_PUSH_SHARDS of startRoutedOn.
const e2ePushShards = 8

// startRoutedOn starts the processes on the Redis deployment of rURL with routed pushes, as a
// deployment on a cluster would run them (the shards spread over the masters), and warms them up.
// The failover tests send as fast as messages are acknowledged: the socket's frame limit is not
// what they test (with the default, a send after the failover was once refused rate_limited).
func startRoutedOn(t *testing.T, rURL string) *cluster {
	t.Helper()
	c := startClusterOn(t, rURL, map[string]string{"CHORUS_PUSH_SHARDS": fmt.Sprint(e2ePushShards)},
		map[string]string{"CHORUS_WS_FRAME_RATE": "10000", "CHORUS_WS_FRAME_BURST": "10000"})
	c.warmUp()
	return c
}

// pushShard is the stream of a room's shard, as the processes name it.
func pushShard(t *testing.T, rURL, prefix, room string) string {
	t.Helper()
	conn, err := redis.Dial(context.Background(), rURL, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return redis.NewPushes(conn, redis.PushStreamMaxLen, nil).Shards(e2ePushShards).RoomStream(uuid.MustParse(room))
}

// Bob's socket is open on gateway 2 when he joins a room alice, on gateway 1, created just now:
// gateway 2 learns of the join on bob's shard and reads the room's shard from the join on, so
// bob's socket hears his join and every message after it, once each. A socket bob opens later
// is set up from the read model. Whichever way gateway 2 came to read the room's shard (from the
// join, or from earlier for another room of the shard), the frames are the same.
func testJoinFromAnotherGateway(t *testing.T, c *cluster, sfx string) {
	alice := newAccount(t, c.gwURL(0), "alice_join_"+sfx)
	bob := newAccount(t, c.gwURL(1), "bob_join_"+sfx)
	bws := dialWS(t, "bob@gateway2", bob.base, bob.token)
	bws.barrier(t)
	aws := dialWS(t, "alice@gateway1", alice.base, alice.token)
	for i := range 3 {
		room, created := alice.createRoom(t, fmt.Sprintf("routed-join-%d-%s", i, sfx))
		alice.waitPosition(t, room.ID, created)
		bob.join(t, room.ID)
		if _, _, err := bws.waitFor(15*time.Second, ofType("user_joined", map[string]string{"room_id": room.ID, "user_id": bob.user.ID})); err != nil {
			t.Fatalf("room %d: bob's open socket did not hear his join: %v", i, err)
		}
		var ids []string
		for j := range 3 {
			id := fmt.Sprintf("j-%d-%d", i, j)
			if err := aws.sendJSON(map[string]any{"type": "send_message", "id": id, "room_id": room.ID, "content": id}); err != nil {
				t.Fatal(err)
			}
			f, _, err := aws.waitFor(10*time.Second, answerTo(id))
			if err != nil || f.Type != "ack" {
				t.Fatalf("send %s: %v %s", id, err, f.raw)
			}
			ans, err := f.ackMessage()
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, ans.Message.ID)
		}
		f, skipped, err := bws.waitFor(15*time.Second, messagePush(ids[len(ids)-1]))
		if err != nil {
			t.Fatalf("room %d: bob's socket did not get the messages after his join: %v", i, err)
		}
		var got []string
		for _, f := range append(skipped, f) {
			if m, err := f.pushed(); f.Type == "message" && err == nil && m.RoomID == room.ID {
				got = append(got, m.ID)
			}
		}
		if !slices.Equal(got, ids) {
			t.Fatalf("room %d: bob's socket got messages %v, want %v once each, in order", i, got, ids)
		}
		t.Logf("room %d is in shard %s", i, pushShard(t, c.redisURL, c.prefix, room.ID))
		// A socket opened now is set up from the read model, which has the join.
		late := dialWS(t, "bob-late@gateway2", bob.base, bob.token)
		late.barrier(t)
		id := fmt.Sprintf("late-%d", i)
		if err := aws.sendJSON(map[string]any{"type": "send_message", "id": id, "room_id": room.ID, "content": id}); err != nil {
			t.Fatal(err)
		}
		f, _, err = aws.waitFor(10*time.Second, answerTo(id))
		if err != nil || f.Type != "ack" {
			t.Fatalf("send %s: %v %s", id, err, f.raw)
		}
		ans, _ := f.ackMessage()
		for _, ws := range []*wsClient{bws, late} {
			if _, _, err := ws.waitFor(10*time.Second, messagePush(ans.Message.ID)); err != nil {
				t.Fatalf("room %d: %s did not get a message sent after it opened: %v", i, ws.name, err)
			}
		}
		late.close()
	}
}

// Alice sends messages one after another while the master holding the push stream fails over
// to its replica, and a few more after. Every message acknowledged is in the history (the log
// is Kafka); bob, on the other gateway, is pushed each message at most once, and every one sent
// after the failover; presence transitions are announced again afterwards.
func testRedisFailoverDuringTraffic(t *testing.T, c *cluster, sfx string, failover func(ctx context.Context, room string) error) {
	alice, bob, room := roomWithTwo(t, c, "failover_"+sfx)
	aws := dialWS(t, "alice@gateway1", alice.base, alice.token)
	bws := dialWS(t, "bob@gateway2", bob.base, bob.token)
	aws.barrier(t)
	bws.barrier(t)

	failed := make(chan error, 1)
	go func() { failed <- failover(context.Background(), room) }()
	var acked []string // message ids, in order
	var position string
	afterFailover := -1 // index in acked of the first message sent once the failover was over
	unanswered := 0
	for i := 0; afterFailover < 0 || len(acked) < afterFailover+10; i++ {
		if afterFailover < 0 {
			select {
			case err := <-failed:
				if err != nil {
					t.Fatalf("failover: %v", err)
				}
				afterFailover = len(acked)
			default:
			}
		}
		id := fmt.Sprintf("m-%d", i)
		if err := aws.sendJSON(map[string]any{"type": "send_message", "id": id, "room_id": room, "content": id}); err != nil {
			t.Fatalf("send %s: %v", id, err)
		}
		f, _, err := aws.waitFor(15*time.Second, answerTo(id))
		if err != nil || f.Type != "ack" {
			// Not acknowledged (the command timed out): nothing is owed for it.
			unanswered++
			if afterFailover >= 0 {
				t.Fatalf("send %s after the failover: %v %s", id, err, f.raw)
			}
			continue
		}
		ans, err := f.ackMessage()
		if err != nil {
			t.Fatal(err)
		}
		acked, position = append(acked, ans.Message.ID), ans.Position
		time.Sleep(20 * time.Millisecond) // a person's pace
	}
	t.Logf("%d messages acknowledged (%d before the failover ended), %d not", len(acked), afterFailover, unanswered)

	inHistory := map[string]bool{}
	for _, m := range alice.fullHistory(t, room, position) {
		inHistory[m.ID] = true
	}
	for _, id := range acked {
		if !inHistory[id] {
			t.Errorf("acknowledged message %s is not in the history", id)
		}
	}

	last := acked[len(acked)-1]
	f, skipped, err := bws.waitFor(20*time.Second, messagePush(last))
	if err != nil {
		t.Fatalf("bob never got the last message: %v", err)
	}
	pushed := map[string]bool{}
	for _, f := range append(skipped, f) {
		if f.Type != "message" {
			continue
		}
		m, err := f.pushed()
		if err != nil {
			t.Fatal(err)
		}
		if pushed[m.ID] {
			t.Fatalf("bob was pushed message %s twice", m.ID)
		}
		pushed[m.ID] = true
	}
	missed := 0
	for i, id := range acked {
		if !pushed[id] {
			if i >= afterFailover {
				t.Fatalf("bob was not pushed message %s, sent after the failover", id)
			}
			missed++
		}
	}
	t.Logf("bob missed %d live pushes during the failover (history and resume have them)", missed)

	bws.close()
	if _, _, err := aws.waitFor(10*time.Second, ofType("presence", map[string]string{"user_id": bob.user.ID, "status": "offline"})); err != nil {
		t.Fatalf("after the failover, alice was not told bob went offline: %v", err)
	}
	dialWS(t, "bob@gateway2", bob.base, bob.token)
	if _, _, err := aws.waitFor(10*time.Second, ofType("presence", map[string]string{"user_id": bob.user.ID, "status": "online"})); err != nil {
		t.Fatalf("after the failover, alice was not told bob is back online: %v", err)
	}
}
