package readmodel

import (
	"fmt"
	"time"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/projtx"
)

// joinRun gathers consecutive UserJoinedRoom events into two statements (the members with their
// rooms' counts, and the invitations they end) instead of two per join: a busy log's joins come
// in runs (a room's first members, a team added at once). The run is queued before any event
// that bulk does not gather (a leave, a ban, a role change, a room's creation or deletion, ...
// every other writer of room_members, rooms and room_invitations), so each join still meets the
// rows as the one-by-one statements would. A join's read marker reads only the change log's
// sends below the join's version, which are in by then (bulk.add flushes the sent messages before
// a join, or a rebuild has copied them first); what goes in after it has higher versions.
type joinRun struct {
	rooms, users projtx.UUIDs
	roles, names []string
	at           []time.Time
	versions     []int64
	first, last  Record
}

func (j *joinRun) add(r Record, d domain.UserJoinedRoom) {
	if len(j.rooms) == 0 {
		j.first = r
	}
	j.last = r
	role := d.Role
	if role == "" {
		role = domain.RoleMember
	}
	j.rooms, j.users = append(j.rooms, d.RoomID), append(j.users, d.UserID)
	j.roles, j.names = append(j.roles, role), append(j.names, d.Username)
	j.at, j.versions = append(j.at, d.JoinedAt), append(j.versions, r.Event.Version)
}

// sqlJoinMembers is the join statement of queueEvent over arrays: a membership row that exists
// is kept (the first join of a run wins, as one by one), and a room's count moves by the rows
// actually inserted.
const sqlJoinMembers = `WITH v AS (
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::bigint[])
			WITH ORDINALITY AS v(room_id, user_id, role, username, joined_at, version, n)
	), added AS (
		INSERT INTO room_members (room_id, user_id, role, username, joined_at, last_read_seq)
		SELECT room_id, user_id, role, username, joined_at, COALESCE((
			SELECT seq FROM room_message_changes c
			WHERE c.room_id = v.room_id AND c.kind = 'sent' AND c.version < v.version
			ORDER BY c.version DESC LIMIT 1), 0)
		FROM v ORDER BY n
		ON CONFLICT (room_id, user_id) DO NOTHING
		RETURNING room_id
	)
	UPDATE rooms r SET member_count = r.member_count + a.n
	FROM (SELECT room_id, count(*) AS n FROM added GROUP BY room_id) a
	WHERE r.id = a.room_id`

// flush queues the run's statements, if it has joins, and starts a new run.
func (j *joinRun) flush(st *checkpoint.Statements) {
	if len(j.rooms) == 0 {
		return
	}
	st.Batch.Queue(sqlJoinMembers, j.rooms, j.users, j.roles, j.names, j.at, j.versions)
	st.Batch.Queue(`DELETE FROM room_invitations i USING unnest($1::uuid[], $2::uuid[]) AS v(room_id, user_id)
		WHERE i.room_id = v.room_id AND i.user_id = v.user_id`, j.rooms, j.users)
	where := fmt.Sprintf("UserJoinedRoom from %s:%d:%d to %s:%d:%d", j.first.Topic, j.first.Partition, j.first.Offset, j.last.Topic, j.last.Partition, j.last.Offset)
	st.Note(fmt.Sprintf("add %d members (%s)", len(j.rooms), where))
	st.Note(fmt.Sprintf("end the invitations of %d members (%s)", len(j.rooms), where))
	*j = joinRun{}
}
