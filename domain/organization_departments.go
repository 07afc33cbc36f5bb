package domain

import (
	"strings"
	"time"

	"github.com/google/uuid"
)

// The department tree, department memberships and rooms, and positions. Who may: creating a
// department needs manage_departments over its parent, renaming over the department, moving
// over the department and over its new parent, deleting over its parent (its members fall
// back to the parent); a department's head, over the department. Memberships need
// manage_members over the department, positions manage_positions (defining them, over the
// organization; assigning them, over the department), a department's room
// create_department_rooms over it. A parent of uuid.Nil is the top of the tree, whose scope is
// the whole organization.

// nameTakenAmong rejects a department name that one of the departments under parent, other
// than self, has already, without regard to case.
func (o *Organization) nameTakenAmong(parent, self uuid.UUID, name string) error {
	for id := range o.siblings(parent) {
		if id != self && strings.EqualFold(o.departments[id].name, name) {
			return reject(CodeNameTaken, "a department named %q is already there", o.departments[id].name)
		}
	}
	return nil
}

func (o *Organization) createDepartment(cmd Command, p CreateDepartment, now time.Time) ([]Event, error) {
	parent, _, err := o.optionalDept(p.ParentID)
	if err != nil {
		return nil, err
	}
	if err := o.need(cmd.ActorID, PermManageDepartments, parent); err != nil {
		return nil, err
	}
	name, err := orgLine("name", p.Name, MaxDepartmentNameRunes)
	if err != nil {
		return nil, err
	}
	if parent != uuid.Nil && o.depth(parent)+1 > MaxDepartmentDepth {
		return nil, reject(CodeValidationFailed, "a department has at most %d levels above it", MaxDepartmentDepth)
	}
	if err := o.nameTakenAmong(parent, uuid.Nil, name); err != nil {
		return nil, err
	}
	id := DepartmentIDFor(cmd.ID)
	if o.departments[id] != nil {
		return nil, reject(CodeValidationFailed, "department %s exists already", id)
	}
	return o.emit(cmd, now, DepartmentCreated{OrgID: o.id, DepartmentID: id, ParentID: optionalID(parent), Name: name,
		SortOrder: p.SortOrder, CreatedBy: cmd.ActorID, CreatedAt: now.UTC()}), nil
}

func (o *Organization) renameDepartment(cmd Command, p RenameDepartment, now time.Time) ([]Event, error) {
	d, err := o.dept(p.DepartmentID)
	if err != nil {
		return nil, err
	}
	if err := o.need(cmd.ActorID, PermManageDepartments, p.DepartmentID); err != nil {
		return nil, err
	}
	name, err := orgLine("name", p.Name, MaxDepartmentNameRunes)
	if err != nil {
		return nil, err
	}
	if name == d.name {
		return nil, reject(CodeValidationFailed, "the department is named %q already", name)
	}
	if err := o.nameTakenAmong(d.parent, p.DepartmentID, name); err != nil {
		return nil, err
	}
	return o.emit(cmd, now, DepartmentRenamed{OrgID: o.id, DepartmentID: p.DepartmentID, Name: name, RenamedBy: cmd.ActorID}), nil
}

// moveDepartment: never into the department's own subtree (a cycle), never deeper than
// MaxDepartmentDepth for any department of the moved subtree.
func (o *Organization) moveDepartment(cmd Command, p MoveDepartment, now time.Time) ([]Event, error) {
	d, err := o.dept(p.DepartmentID)
	if err != nil {
		return nil, err
	}
	parent, _, err := o.optionalDept(p.ParentID)
	if err != nil {
		return nil, err
	}
	if err := o.need(cmd.ActorID, PermManageDepartments, p.DepartmentID); err != nil {
		return nil, err
	}
	if err := o.need(cmd.ActorID, PermManageDepartments, parent); err != nil {
		return nil, err
	}
	if parent != uuid.Nil && o.within(parent, p.DepartmentID) {
		return nil, reject(CodeValidationFailed, "a department cannot move into its own subtree")
	}
	if parent == d.parent && p.SortOrder == d.sortOrder {
		return nil, reject(CodeValidationFailed, "the department is there already")
	}
	if parent != d.parent {
		depth := 0
		if parent != uuid.Nil {
			depth = o.depth(parent) + 1
		}
		if depth+o.height(p.DepartmentID) > MaxDepartmentDepth {
			return nil, reject(CodeValidationFailed, "the move would put a department below %d levels", MaxDepartmentDepth)
		}
		if err := o.nameTakenAmong(parent, p.DepartmentID, d.name); err != nil {
			return nil, err
		}
	}
	return o.emit(cmd, now, DepartmentMoved{OrgID: o.id, DepartmentID: p.DepartmentID, FromParentID: optionalID(d.parent),
		ParentID: optionalID(parent), SortOrder: p.SortOrder, MovedBy: cmd.ActorID}), nil
}

func (o *Organization) deleteDepartment(cmd Command, p DeleteDepartment, now time.Time) ([]Event, error) {
	d, err := o.dept(p.DepartmentID)
	if err != nil {
		return nil, err
	}
	if err := o.need(cmd.ActorID, PermManageDepartments, d.parent); err != nil {
		return nil, err
	}
	if len(d.children) > 0 {
		return nil, reject(CodeDepartmentNotEmpty, "department %s has sub-departments: move or delete them first", p.DepartmentID)
	}
	return o.emit(cmd, now, DepartmentDeleted{OrgID: o.id, DepartmentID: p.DepartmentID, ParentID: optionalID(d.parent),
		DeletedBy: cmd.ActorID, DeletedAt: now.UTC()}), nil
}

func (o *Organization) setHead(cmd Command, p SetDepartmentHead, now time.Time) ([]Event, error) {
	d, err := o.dept(p.DepartmentID)
	if err != nil {
		return nil, err
	}
	if err := o.need(cmd.ActorID, PermManageDepartments, p.DepartmentID); err != nil {
		return nil, err
	}
	head := idOrNil(p.UserID)
	if head != uuid.Nil && !d.members[head] {
		return nil, reject(CodeNotAMember, "user %s is not a member of the department", head)
	}
	if head == d.head {
		return nil, reject(CodeValidationFailed, "the department has that head already")
	}
	return o.emit(cmd, now, DepartmentHeadSet{OrgID: o.id, DepartmentID: p.DepartmentID, UserID: optionalID(head), SetBy: cmd.ActorID}), nil
}

// addDepartmentMember: a member's first department is their primary one, whatever the command
// says; the event says what happened.
func (o *Organization) addDepartmentMember(cmd Command, p AddDepartmentMember, now time.Time) ([]Event, error) {
	d, err := o.dept(p.DepartmentID)
	if err != nil {
		return nil, err
	}
	if err := o.need(cmd.ActorID, PermManageMembers, p.DepartmentID); err != nil {
		return nil, err
	}
	m, err := o.member(p.UserID)
	if err != nil {
		return nil, err
	}
	if d.members[p.UserID] {
		return nil, reject(CodeAlreadyMember, "user %s is already a member of the department", p.UserID)
	}
	return o.emit(cmd, now, DepartmentMemberAdded{OrgID: o.id, DepartmentID: p.DepartmentID, UserID: p.UserID,
		Primary: p.Primary || m.primary == uuid.Nil, AddedBy: cmd.ActorID, AddedAt: now.UTC()}), nil
}

// removeDepartmentMember also ends the position the member held there and their headship of
// it; when it was their primary department, the one they were added to earliest of those left
// becomes primary (NewPrimaryID).
func (o *Organization) removeDepartmentMember(cmd Command, p RemoveDepartmentMember, now time.Time) ([]Event, error) {
	d, err := o.dept(p.DepartmentID)
	if err != nil {
		return nil, err
	}
	if err := o.need(cmd.ActorID, PermManageMembers, p.DepartmentID); err != nil {
		return nil, err
	}
	m, err := o.member(p.UserID)
	if err != nil {
		return nil, err
	}
	if !d.members[p.UserID] {
		return nil, reject(CodeNotAMember, "user %s is not a member of the department", p.UserID)
	}
	var next *uuid.UUID
	if m.primary == p.DepartmentID {
		next = optionalID(m.earliestDepartment(p.DepartmentID))
	}
	return o.emit(cmd, now, DepartmentMemberRemoved{OrgID: o.id, DepartmentID: p.DepartmentID, UserID: p.UserID,
		NewPrimaryID: next, RemovedBy: cmd.ActorID}), nil
}

func (o *Organization) setPrimary(cmd Command, p SetPrimaryDepartment, now time.Time) ([]Event, error) {
	d, err := o.dept(p.DepartmentID)
	if err != nil {
		return nil, err
	}
	if p.UserID != cmd.ActorID {
		if err := o.need(cmd.ActorID, PermManageMembers, p.DepartmentID); err != nil {
			return nil, err
		}
	}
	m, err := o.member(p.UserID)
	if err != nil {
		return nil, err
	}
	if !d.members[p.UserID] {
		return nil, reject(CodeNotAMember, "user %s is not a member of the department", p.UserID)
	}
	if m.primary == p.DepartmentID {
		return nil, reject(CodeValidationFailed, "it is the member's primary department already")
	}
	return o.emit(cmd, now, PrimaryDepartmentSet{OrgID: o.id, DepartmentID: p.DepartmentID, UserID: p.UserID, SetBy: cmd.ActorID}), nil
}

func (o *Organization) createDepartmentRoom(cmd Command, p CreateDepartmentRoom, now time.Time) ([]Event, error) {
	d, err := o.dept(p.DepartmentID)
	if err != nil {
		return nil, err
	}
	if err := o.need(cmd.ActorID, PermCreateDepartmentRooms, p.DepartmentID); err != nil {
		return nil, err
	}
	name, err := roomName(p.Name)
	if err != nil {
		return nil, err
	}
	if d.room != uuid.Nil {
		return nil, reject(CodeValidationFailed, "the department has a room already: %s", d.room)
	}
	return o.emit(cmd, now, DepartmentRoomCreated{OrgID: o.id, DepartmentID: p.DepartmentID,
		RoomID: DepartmentRoomIDFor(o.id, p.DepartmentID), Name: name, CreatedBy: cmd.ActorID}), nil
}

// ---- positions ----

// positionNameTaken rejects a position name another position (than self) has, without regard
// to case.
func (o *Organization) positionNameTaken(self uuid.UUID, name string) error {
	for id, p := range o.positions {
		if id != self && strings.EqualFold(p.name, name) {
			return reject(CodeNameTaken, "a position named %q exists already", p.name)
		}
	}
	return nil
}

func (o *Organization) position(id uuid.UUID) (*jobPosition, error) {
	if p := o.positions[id]; p != nil {
		return p, nil
	}
	return nil, reject(CodePositionNotFound, "position %s is not a position of this organization", id)
}

func (o *Organization) definePosition(cmd Command, p DefinePosition, now time.Time) ([]Event, error) {
	if err := o.need(cmd.ActorID, PermManagePositions, uuid.Nil); err != nil {
		return nil, err
	}
	name, err := orgLine("name", p.Name, MaxPositionNameRunes)
	if err != nil {
		return nil, err
	}
	if err := o.positionNameTaken(uuid.Nil, name); err != nil {
		return nil, err
	}
	id := PositionIDFor(cmd.ID)
	if o.positions[id] != nil {
		return nil, reject(CodeValidationFailed, "position %s exists already", id)
	}
	return o.emit(cmd, now, PositionDefined{OrgID: o.id, PositionID: id, Name: name, Rank: p.Rank, DefinedBy: cmd.ActorID}), nil
}

func (o *Organization) updatePosition(cmd Command, p UpdatePosition, now time.Time) ([]Event, error) {
	pos, err := o.position(p.PositionID)
	if err != nil {
		return nil, err
	}
	if err := o.need(cmd.ActorID, PermManagePositions, uuid.Nil); err != nil {
		return nil, err
	}
	if p.Name == nil && p.Rank == nil {
		return nil, reject(CodeValidationFailed, "nothing to update: give a name or a rank")
	}
	ev := PositionUpdated{OrgID: o.id, PositionID: p.PositionID, UpdatedBy: cmd.ActorID}
	if p.Name != nil {
		name, err := orgLine("name", *p.Name, MaxPositionNameRunes)
		if err != nil {
			return nil, err
		}
		if err := o.positionNameTaken(p.PositionID, name); err != nil {
			return nil, err
		}
		if name != pos.name {
			ev.Name = &name
		}
	}
	if p.Rank != nil && *p.Rank != pos.rank {
		rank := *p.Rank
		ev.Rank = &rank
	}
	if ev.Name == nil && ev.Rank == nil {
		return nil, reject(CodeValidationFailed, "nothing changes: the position is so already")
	}
	return o.emit(cmd, now, ev), nil
}

func (o *Organization) deletePosition(cmd Command, p DeletePosition, now time.Time) ([]Event, error) {
	if _, err := o.position(p.PositionID); err != nil {
		return nil, err
	}
	if err := o.need(cmd.ActorID, PermManagePositions, uuid.Nil); err != nil {
		return nil, err
	}
	return o.emit(cmd, now, PositionDeleted{OrgID: o.id, PositionID: p.PositionID, DeletedBy: cmd.ActorID}), nil
}

func (o *Organization) assignPosition(cmd Command, p AssignPosition, now time.Time) ([]Event, error) {
	d, err := o.dept(p.DepartmentID)
	if err != nil {
		return nil, err
	}
	if _, err := o.position(p.PositionID); err != nil {
		return nil, err
	}
	if err := o.need(cmd.ActorID, PermManagePositions, p.DepartmentID); err != nil {
		return nil, err
	}
	m, err := o.member(p.UserID)
	if err != nil {
		return nil, err
	}
	if !d.members[p.UserID] {
		return nil, reject(CodeNotAMember, "user %s is not a member of the department", p.UserID)
	}
	if held, ok := m.positions[p.DepartmentID]; ok && held == p.PositionID {
		return nil, reject(CodeValidationFailed, "the member holds that position there already")
	}
	return o.emit(cmd, now, PositionAssigned{OrgID: o.id, UserID: p.UserID, DepartmentID: p.DepartmentID,
		PositionID: p.PositionID, AssignedBy: cmd.ActorID}), nil
}

func (o *Organization) unassignPosition(cmd Command, p UnassignPosition, now time.Time) ([]Event, error) {
	if _, err := o.dept(p.DepartmentID); err != nil {
		return nil, err
	}
	if err := o.need(cmd.ActorID, PermManagePositions, p.DepartmentID); err != nil {
		return nil, err
	}
	m, err := o.member(p.UserID)
	if err != nil {
		return nil, err
	}
	if _, ok := m.positions[p.DepartmentID]; !ok {
		return nil, reject(CodeValidationFailed, "the member holds no position in that department")
	}
	return o.emit(cmd, now, PositionUnassigned{OrgID: o.id, UserID: p.UserID, DepartmentID: p.DepartmentID,
		UnassignedBy: cmd.ActorID}), nil
}
