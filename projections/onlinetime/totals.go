package onlinetime

import (
	"hash/fnv"
	"strings"

	"github.com/chorus-chat/chorus/domain"
)

// The daily totals: online_daily holds, for every time zone of online_zones, the microseconds
// of the closed sessions per user and local day there (a day from its midnight to the next, 23
// or 25 hours across a change of daylight saving time), so that a report reads one row per
// member and day instead of cutting every session at every midnight. A row exists when its sum
// is not 0, so that the table is the same whatever order it was built in.
//
// Order independence. The zones come from org-events, the sessions from user-events: a live
// projector and a rebuild interleave them differently. A zone added after sessions were closed
// is filled from online_sessions in the transaction that adds it (sqlAddZone); a session closed
// after its zones were added is added to each (sqlEndDaily). The two must not overlap, or a
// session closed while its zone is being filled would be in neither: a batch that closes
// sessions holds a shared advisory lock (per schema: a rebuild's generation is apart from the
// live tables) and one that adds zones an exclusive one, each taken before its first statement
// that reads the other's tables, so that (at READ COMMITTED) that statement sees what the other
// committed.

// zonesLockKey is the advisory lock of the zones in schema ("" the live tables).
func zonesLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("onlinetime zones " + schema))
	return int64(h.Sum64()) //nolint:gosec // a lock key: any 64 bits will do
}

// zonesLock is the statement that takes the zones' lock that recs need: exclusive when one of
// them may add a zone, shared when one may close a session, none otherwise ("").
func zonesLock(recs []Record) string {
	lock := ""
	for _, r := range recs {
		switch d := r.Event.Data.(type) {
		case domain.OrganizationCreated:
			return `SELECT pg_advisory_xact_lock($1)`
		case domain.OrganizationUpdated:
			if d.TimeZone != nil {
				return `SELECT pg_advisory_xact_lock($1)`
			}
		case domain.UserWentOffline:
			lock = `SELECT pg_advisory_xact_lock_shared($1)`
		}
	}
	return lock
}

// zoneName is an organization's time zone as the directory stores it: "" is UTC.
func zoneName(tz string) string {
	if strings.TrimSpace(tz) == "" {
		return "UTC"
	}
	return tz
}

// pieces is a LATERAL subquery cutting the span s to e (SQL expressions) at the midnights of time
// zone zone: a row (day, micros) per local day it overlaps, micros being its part of the span.
// The days' bounds are computed as the report's sessions query computes them (a day d from
// d AT TIME ZONE zone to (d + 1 day) AT TIME ZONE zone), so both give the same answers.
func pieces(zone, s, e string) string {
	lo := `d AT TIME ZONE ` + zone
	hi := `(d + interval '1 day') AT TIME ZONE ` + zone
	return `LATERAL (SELECT d::date AS day,
			(extract(epoch FROM LEAST(` + e + `, ` + hi + `) - GREATEST(` + s + `, ` + lo + `)) * 1000000)::bigint AS micros
		FROM generate_series(((` + s + ` AT TIME ZONE ` + zone + `)::date - 1)::timestamp,
			((` + e + ` AT TIME ZONE ` + zone + `)::date + 1)::timestamp, interval '1 day') AS d
		WHERE ` + lo + ` < ` + e + ` AND ` + hi + ` > ` + s + `)`
}

var (
	// sqlEndDaily moves the totals of every zone for the ends of sessions a batch brings
	// (arrays: $1 user, $2 start, $3 end; one entry a session), run before the batch writes them
	// to online_sessions: for each it adds [start, end) and takes away the span the session had
	// if it had already ended elsewhere; nothing when it had ended there already (a record
	// applied twice). Rows whose sum comes to 0 are deleted.
	sqlEndDaily = `MERGE INTO online_daily t
		USING (
			SELECT z.zone, c.user_id, p.day, sum(c.sign * p.micros)::bigint AS micros
			FROM online_zones z
			CROSS JOIN (
				SELECT n.user_id, n.s, n.e, 1 AS sign FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[]) AS n(user_id, s, e)
				WHERE NOT EXISTS (SELECT 1 FROM online_sessions x WHERE x.user_id = n.user_id AND x.started_at = n.s AND x.ended_at = n.e)
				UNION ALL
				SELECT x.user_id, x.started_at, x.ended_at, -1 FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[]) AS n(user_id, s, e)
				JOIN online_sessions x ON x.user_id = n.user_id AND x.started_at = n.s AND x.ended_at <> n.e
			) c
			CROSS JOIN ` + pieces("z.zone", "c.s", "c.e") + ` p
			GROUP BY z.zone, c.user_id, p.day
		) s ON t.time_zone = s.zone AND t.user_id = s.user_id AND t.day = s.day
		WHEN MATCHED AND t.micros + s.micros = 0 THEN DELETE
		WHEN MATCHED THEN UPDATE SET micros = t.micros + s.micros
		WHEN NOT MATCHED AND s.micros <> 0 THEN INSERT (time_zone, user_id, day, micros) VALUES (s.zone, s.user_id, s.day, s.micros)`

	// sqlAddZone adds zone $1 unless it is there already or Postgres does not know it (the
	// report then computes from the sessions, and fails as it did before), and fills its totals
	// from every closed session. The cheap test goes first (CASE keeps the order): looking a
	// name up in pg_timezone_names reads the zone files (~50 ms).
	sqlAddZone = `WITH z AS (
			INSERT INTO online_zones (zone)
			SELECT $1::text WHERE CASE WHEN EXISTS (SELECT 1 FROM online_zones WHERE zone = $1::text) THEN false
				ELSE EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1::text) END
			ON CONFLICT DO NOTHING
			RETURNING zone)
		INSERT INTO online_daily (time_zone, user_id, day, micros)
		SELECT z.zone, x.user_id, p.day, sum(p.micros)::bigint
		FROM z CROSS JOIN online_sessions x CROSS JOIN ` + pieces("z.zone", "x.started_at", "x.ended_at") + ` p
		WHERE x.ended_at IS NOT NULL
		GROUP BY z.zone, x.user_id, p.day
		HAVING sum(p.micros) <> 0`
)
