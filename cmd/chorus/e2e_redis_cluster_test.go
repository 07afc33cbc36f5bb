package main_test

// End to end on a Redis Cluster: the distributed processes share a real three-master cluster
// (redistest) instead of one Redis, through CHORUS_REDIS_URL=redis+cluster://...

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chorus-chat/chorus/adapters/redis/redistest"
)

func TestE2ERedisCluster(t *testing.T) {
	skipShort(t)
	rc := redistest.SharedCluster(t)
	// The failover test sends as fast as messages are acknowledged: the socket's frame limit is
	// not what it tests (with the default, a send after the failover was once refused rate_limited).
	c := startClusterOn(t, rc.URL(), map[string]string{"CHORUS_WS_FRAME_RATE": "10000", "CHORUS_WS_FRAME_BURST": "10000"})
	c.warmUp()
	sfx := randomHex(3)

	// Replies cross processes through the cluster's pub/sub, pushes through its stream.
	t.Run("CrossGatewayDelivery", func(t *testing.T) { testCrossGatewayDelivery(t, c, sfx) })
	// The presence scripts run on the cluster (their keys in the push stream's slot).
	t.Run("PresenceAcrossGateways", func(t *testing.T) { testPresenceAcrossGateways(t, c, sfx) })
	t.Run("FailoverDuringTraffic", func(t *testing.T) { testRedisFailoverDuringTraffic(t, c, rc, sfx) })
}

// Alice sends messages one after another while the master holding the push stream fails over
// to its replica, and a few more after. Every message acknowledged is in the history (the log
// is Kafka); bob, on the other gateway, is pushed each message at most once, and every one sent
// after the failover; presence transitions are announced again afterwards.
func testRedisFailoverDuringTraffic(t *testing.T, c *cluster, rc *redistest.Cluster, sfx string) {
	alice, bob, room := roomWithTwo(t, c, "failover_"+sfx)
	aws := dialWS(t, "alice@gateway1", alice.base, alice.token)
	bws := dialWS(t, "bob@gateway2", bob.base, bob.token)
	aws.barrier(t)
	bws.barrier(t)

	failed := make(chan error, 1)
	go func() {
		from, to, err := rc.Failover(context.Background(), "{"+c.prefix+"}:pushes")
		t.Logf("push stream's master %s failed over to %s", from, to)
		failed <- err
	}()
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
