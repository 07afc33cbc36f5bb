package orgrooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/domain"
)

// What each organization event does to the manager's tables and which room commands it
// decides. A room's members are the members of its department's subtree, so an event changes
// a room exactly when it changes who is in that subtree; the manager computes that change from
// its tables as they stand before and after the event, in the transaction that applies it, and
// queues one sync per room touched (in parts of at most domain.MaxSyncMembers users).

// subtreeSQL is the department $2 of organization $1 and every department below it.
const subtreeSQL = `WITH RECURSIVE sub(id) AS (
		SELECT $2::uuid
		UNION ALL
		SELECT d.department_id FROM orgrooms_departments d JOIN sub ON d.org_id = $1 AND d.parent_id = sub.id
	)`

// applier applies one batch's events on tx and collects the commands they decide.
type applier struct {
	ctx  context.Context
	tx   pgx.Tx
	cmds []domain.Command
}

// linked is a department with its room.
type linked struct {
	dept, room uuid.UUID
}

// ancestorsOrSelf are dept and the departments above it that have a room, nearest first.
func (a *applier) ancestorsOrSelf(org, dept uuid.UUID) ([]linked, error) {
	rows, err := a.tx.Query(a.ctx, `WITH RECURSIVE up(id, parent, room, depth) AS (
			SELECT department_id, parent_id, room_id, 0 FROM orgrooms_departments WHERE org_id = $1 AND department_id = $2
			UNION ALL
			SELECT d.department_id, d.parent_id, d.room_id, up.depth + 1
			FROM orgrooms_departments d JOIN up ON d.org_id = $1 AND d.department_id = up.parent
			WHERE up.depth < 64
		)
		SELECT id, room FROM up WHERE room IS NOT NULL ORDER BY depth`, org, dept)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (linked, error) {
		var l linked
		err := r.Scan(&l.dept, &l.room)
		return l, err
	})
}

// subtreeUsers are the users in dept's subtree, with their names.
func (a *applier) subtreeUsers(org, dept uuid.UUID) (map[uuid.UUID]string, error) {
	rows, err := a.tx.Query(a.ctx, subtreeSQL+`
		SELECT DISTINCT m.user_id, coalesce(u.username, '')
		FROM orgrooms_memberships m JOIN sub ON m.department_id = sub.id
		LEFT JOIN orgrooms_members u ON u.org_id = $1 AND u.user_id = m.user_id
		WHERE m.org_id = $1`, org, dept)
	if err != nil {
		return nil, err
	}
	out := map[uuid.UUID]string{}
	var (
		id   uuid.UUID
		name string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error { out[id] = name; return nil })
	return out, err
}

// inSubtree tells whether user is in a department of dept's subtree.
func (a *applier) inSubtree(org, dept, user uuid.UUID) (bool, error) {
	var in bool
	err := a.tx.QueryRow(a.ctx, subtreeSQL+`
		SELECT EXISTS (SELECT 1 FROM orgrooms_memberships m JOIN sub ON m.department_id = sub.id
		               WHERE m.org_id = $1 AND m.user_id = $3)`, org, dept, user).Scan(&in)
	return in, err
}

func (a *applier) username(org, user uuid.UUID) (string, error) {
	var name string
	err := a.tx.QueryRow(a.ctx, `SELECT coalesce((SELECT username FROM orgrooms_members WHERE org_id = $1 AND user_id = $2), '')`,
		org, user).Scan(&name)
	return name, err
}

func (a *applier) exec(sql string, args ...any) error {
	_, err := a.tx.Exec(a.ctx, sql, args...)
	return err
}

// change is what one event does to one room's members.
type change struct {
	add    map[uuid.UUID]string
	remove map[uuid.UUID]bool
}

type changes map[uuid.UUID]*change

func (c changes) of(room uuid.UUID) *change {
	if c[room] == nil {
		c[room] = &change{add: map[uuid.UUID]string{}, remove: map[uuid.UUID]bool{}}
	}
	return c[room]
}

// apply applies e and collects its commands.
func (a *applier) apply(e domain.Event) error {
	ch := changes{}
	var err error
	switch d := e.Data.(type) {
	case domain.OrgMemberJoined:
		err = a.exec(`INSERT INTO orgrooms_members (org_id, user_id, username) VALUES ($1, $2, $3)
			ON CONFLICT (org_id, user_id) DO UPDATE SET username = EXCLUDED.username`, d.OrgID, d.UserID, d.Username)
	case domain.OrgMemberRemoved:
		err = a.memberRemoved(d, ch)
	case domain.DepartmentCreated:
		err = a.exec(`INSERT INTO orgrooms_departments (org_id, department_id, parent_id) VALUES ($1, $2, $3)
			ON CONFLICT (org_id, department_id) DO NOTHING`, d.OrgID, d.DepartmentID, d.ParentID)
	case domain.DepartmentMemberAdded:
		err = a.deptMemberAdded(d, ch)
	case domain.DepartmentMemberRemoved:
		err = a.deptMemberRemoved(d.OrgID, d.DepartmentID, d.UserID, ch)
	case domain.DepartmentMoved:
		err = a.deptMoved(d, ch)
	case domain.DepartmentDeleted:
		err = a.deptDeleted(e, d)
	case domain.DepartmentRoomCreated:
		err = a.roomCreated(e, d, ch)
	}
	if err != nil {
		return fmt.Errorf("%s of %s: %w", e.Type, e.AggregateID, err)
	}
	a.syncs(e, ch)
	return nil
}

func (a *applier) memberRemoved(d domain.OrgMemberRemoved, ch changes) error {
	// Every room above any of their departments loses them: none of their departments stays.
	rows, err := a.tx.Query(a.ctx, `SELECT department_id FROM orgrooms_memberships WHERE org_id = $1 AND user_id = $2`, d.OrgID, d.UserID)
	if err != nil {
		return err
	}
	depts, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return err
	}
	for _, dept := range depts {
		rooms, err := a.ancestorsOrSelf(d.OrgID, dept)
		if err != nil {
			return err
		}
		for _, l := range rooms {
			ch.of(l.room).remove[d.UserID] = true
		}
	}
	if err := a.exec(`DELETE FROM orgrooms_memberships WHERE org_id = $1 AND user_id = $2`, d.OrgID, d.UserID); err != nil {
		return err
	}
	return a.exec(`DELETE FROM orgrooms_members WHERE org_id = $1 AND user_id = $2`, d.OrgID, d.UserID)
}

func (a *applier) deptMemberAdded(d domain.DepartmentMemberAdded, ch changes) error {
	rooms, err := a.ancestorsOrSelf(d.OrgID, d.DepartmentID)
	if err != nil {
		return err
	}
	name, err := a.username(d.OrgID, d.UserID)
	if err != nil {
		return err
	}
	for _, l := range rooms {
		in, err := a.inSubtree(d.OrgID, l.dept, d.UserID)
		if err != nil {
			return err
		}
		if !in {
			ch.of(l.room).add[d.UserID] = name
		}
	}
	return a.exec(`INSERT INTO orgrooms_memberships (org_id, department_id, user_id) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, d.OrgID, d.DepartmentID, d.UserID)
}

func (a *applier) deptMemberRemoved(org, dept, user uuid.UUID, ch changes) error {
	if err := a.exec(`DELETE FROM orgrooms_memberships WHERE org_id = $1 AND department_id = $2 AND user_id = $3`, org, dept, user); err != nil {
		return err
	}
	rooms, err := a.ancestorsOrSelf(org, dept)
	if err != nil {
		return err
	}
	for _, l := range rooms {
		in, err := a.inSubtree(org, l.dept, user)
		if err != nil {
			return err
		}
		if !in { // not through another of their departments either
			ch.of(l.room).remove[user] = true
		}
	}
	return nil
}

// deptMoved: the moved subtree's users join the rooms of the departments now above it that
// were not before (unless they were in them through another department), and leave the rooms
// of those above it before and not now (unless they are still in them through another).
func (a *applier) deptMoved(d domain.DepartmentMoved, ch changes) error {
	users, err := a.subtreeUsers(d.OrgID, d.DepartmentID)
	if err != nil {
		return err
	}
	above := func() (map[uuid.UUID]uuid.UUID, error) { // department → room, strictly above the moved one
		var parent *uuid.UUID
		if err := a.tx.QueryRow(a.ctx, `SELECT parent_id FROM orgrooms_departments WHERE org_id = $1 AND department_id = $2`,
			d.OrgID, d.DepartmentID).Scan(&parent); err != nil {
			return nil, err
		}
		out := map[uuid.UUID]uuid.UUID{}
		if parent == nil {
			return out, nil
		}
		rooms, err := a.ancestorsOrSelf(d.OrgID, *parent)
		for _, l := range rooms {
			out[l.dept] = l.room
		}
		return out, err
	}
	before, err := above()
	if err != nil {
		return err
	}
	// The new ancestors' members before the move: who is in them already stays, unannounced.
	had := map[uuid.UUID]map[uuid.UUID]string{}
	if d.ParentID != nil {
		rooms, err := a.ancestorsOrSelf(d.OrgID, *d.ParentID)
		if err != nil {
			return err
		}
		for _, l := range rooms {
			if _, was := before[l.dept]; was {
				continue
			}
			if had[l.dept], err = a.subtreeUsers(d.OrgID, l.dept); err != nil {
				return err
			}
		}
	}
	if err := a.exec(`UPDATE orgrooms_departments SET parent_id = $3 WHERE org_id = $1 AND department_id = $2`,
		d.OrgID, d.DepartmentID, d.ParentID); err != nil {
		return err
	}
	after, err := above()
	if err != nil {
		return err
	}
	for dept, room := range after {
		if _, was := before[dept]; was {
			continue
		}
		for u, name := range users {
			if _, in := had[dept][u]; !in {
				ch.of(room).add[u] = name
			}
		}
	}
	for dept, room := range before {
		if _, is := after[dept]; is {
			continue
		}
		still, err := a.subtreeUsers(d.OrgID, dept)
		if err != nil {
			return err
		}
		for u := range users {
			if _, in := still[u]; !in {
				ch.of(room).remove[u] = true
			}
		}
	}
	return nil
}

// deptDeleted: its members fall back to the parent, which every room above it already counts
// them in, so no room above changes; its own room is released (it keeps its members).
func (a *applier) deptDeleted(e domain.Event, d domain.DepartmentDeleted) error {
	var room *uuid.UUID
	if err := a.tx.QueryRow(a.ctx, `SELECT room_id FROM orgrooms_departments WHERE org_id = $1 AND department_id = $2`,
		d.OrgID, d.DepartmentID).Scan(&room); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if d.ParentID != nil {
		if err := a.exec(`INSERT INTO orgrooms_memberships (org_id, department_id, user_id)
			SELECT org_id, $3, user_id FROM orgrooms_memberships WHERE org_id = $1 AND department_id = $2
			ON CONFLICT DO NOTHING`, d.OrgID, d.DepartmentID, *d.ParentID); err != nil {
			return err
		}
	}
	if err := a.exec(`DELETE FROM orgrooms_memberships WHERE org_id = $1 AND department_id = $2`, d.OrgID, d.DepartmentID); err != nil {
		return err
	}
	if err := a.exec(`DELETE FROM orgrooms_departments WHERE org_id = $1 AND department_id = $2`, d.OrgID, d.DepartmentID); err != nil {
		return err
	}
	if room != nil {
		a.command(e, *room, kindRelease, 0, domain.ReleaseDepartmentRoom{SourceVersion: e.Version})
	}
	return nil
}

// roomCreated: the room is created, then its department's subtree joins it.
func (a *applier) roomCreated(e domain.Event, d domain.DepartmentRoomCreated, ch changes) error {
	if err := a.exec(`UPDATE orgrooms_departments SET room_id = $3 WHERE org_id = $1 AND department_id = $2`,
		d.OrgID, d.DepartmentID, d.RoomID); err != nil {
		return err
	}
	link := domain.RoomDepartment{OrgID: d.OrgID, DepartmentID: d.DepartmentID}
	a.command(e, d.RoomID, kindCreate, 0, domain.CreateRoom{Name: d.Name, Department: &link})
	users, err := a.subtreeUsers(d.OrgID, d.DepartmentID)
	if err != nil {
		return err
	}
	c := ch.of(d.RoomID)
	for u, name := range users {
		c.add[u] = name
	}
	return nil
}

// Kinds of command a source event gives one room, part of its command id.
const (
	kindCreate  = 'c'
	kindSync    = 's'
	kindRelease = 'r'
)

// syncs queues the syncs of ch: rooms in id order, each room's users sorted and cut in parts.
func (a *applier) syncs(e domain.Event, ch changes) {
	rooms := make([]uuid.UUID, 0, len(ch))
	for r := range ch {
		rooms = append(rooms, r)
	}
	slices.SortFunc(rooms, func(x, y uuid.UUID) int { return slices.Compare(x[:], y[:]) })
	for _, room := range rooms {
		c := ch[room]
		adds := make([]domain.ManagedMember, 0, len(c.add))
		for u, name := range c.add {
			adds = append(adds, domain.ManagedMember{UserID: u, Username: name})
		}
		slices.SortFunc(adds, func(x, y domain.ManagedMember) int { return slices.Compare(x.UserID[:], y.UserID[:]) })
		removes := make([]uuid.UUID, 0, len(c.remove))
		for u := range c.remove {
			removes = append(removes, u)
		}
		slices.SortFunc(removes, func(x, y uuid.UUID) int { return slices.Compare(x[:], y[:]) })
		for part := 0; len(adds)+len(removes) > 0; part++ {
			n := min(len(adds), domain.MaxSyncMembers)
			m := min(len(removes), domain.MaxSyncMembers-n)
			a.command(e, room, kindSync, part, domain.SyncDepartmentRoom{SourceVersion: e.Version, Part: part,
				Add: adds[:n:n], Remove: removes[:m:m]})
			adds, removes = adds[n:], removes[m:]
		}
	}
}

// namespaceCommand derives the manager's command ids.
var namespaceCommand = uuid.MustParse("5a0c1e7e-9d0b-4c8e-b4f1-2f7d3c6a9e10")

// CommandID is the id of the command of kind (create, sync, release) and part that source
// event gives room: the same on every replay, so a command sent again is the same command and
// the room answers it with its first result.
func CommandID(source, room uuid.UUID, kind byte, part int) uuid.UUID {
	b := make([]byte, 0, 40)
	b = append(b, source[:]...)
	b = append(b, room[:]...)
	b = append(b, kind, byte(part>>16), byte(part>>8), byte(part))
	return uuid.NewSHA1(namespaceCommand, b)
}

// ActorName is the name the manager's commands carry.
const ActorName = "chorus"

func (a *applier) command(e domain.Event, room uuid.UUID, kind byte, part int, p domain.CommandData) {
	a.cmds = append(a.cmds, domain.NewCommand(CommandID(e.ID, room, kind, part), room, domain.SystemActorID, ActorName, e.OccurredAt, p))
}

// queueOutbox queues the commands into the outbox, in order.
func queueOutbox(b *pgx.Batch, cmds []domain.Command) error {
	if len(cmds) == 0 {
		return nil
	}
	raw := make([]string, len(cmds))
	for i, c := range cmds {
		j, err := json.Marshal(c)
		if err != nil {
			return err
		}
		raw[i] = string(j)
	}
	b.Queue(`INSERT INTO orgrooms_outbox (command) SELECT c::jsonb FROM unnest($1::text[]) WITH ORDINALITY AS t(c, i) ORDER BY i`, raw)
	return nil
}
