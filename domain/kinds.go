package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/google/uuid"
)

// The table of aggregate kinds. Everything outside an aggregate's own file that depends on
// which kinds exist reads it: NewAggregate, command and event decoding, the aggregate a command
// addresses, the stream its events go to (the command processor's topic), the snapshot forms.
// Adding an aggregate is a file of its own (its state, Decide, Apply, payloads and snapshot
// form) and one row below; a kind, command type or event type that no row names is an error
// wherever it is met, never taken for a room.

// ErrUnknownKind: an aggregate type that no kind of the table names.
var ErrUnknownKind = errors.New("unknown aggregate type")

// ErrUnknownCommand: a command type that no kind of the table owns.
var ErrUnknownCommand = errors.New("unknown command type")

// Event streams: the log each kind's events are appended to, and its partitions rebuilt from.
// adapters/kafka names the topic of each (Topics.OfStream).
const (
	StreamChat   = "chat"
	StreamUsers  = "users"
	StreamSystem = "system"
	StreamOrgs   = "orgs"
)

// Kind is one type of aggregate.
type Kind struct {
	// Name is the aggregate_type of its commands and events.
	Name string
	// Stream is the log its events are appended to.
	Stream string
	// SnapshotTag marks its entries in the binary partition snapshot (commands/snapshot_entry.go).
	// Snapshots outlive releases: a tag is never changed nor given to another kind.
	SnapshotTag byte
	// New is the aggregate before its first event.
	New func(id uuid.UUID) Aggregate
	// Snapshots writes its state down and reads it back (snapshot.go).
	Snapshots Snapshots
	// Commands and Events are the payload types it owns: the commands it decides and the events
	// it writes, each decoded by its codec.
	Commands []Codec[CommandData]
	Events   []Codec[EventData]
}

var kinds = []Kind{
	{Name: AggregateRoom, Stream: StreamChat, SnapshotTag: 1,
		New:       func(id uuid.UUID) Aggregate { return NewRoom(id) },
		Snapshots: fieldSnapshots(AggregateRoom, func(s *AggregateSnapshot) **RoomSnapshot { return &s.Room }, (*Room).Snapshot, RestoreRoom),
		Commands: []Codec[CommandData]{command[CreateRoom](), command[UpdateRoom](), command[DeleteRoom](),
			command[JoinRoom](), command[LeaveRoom](), command[SetRole](), command[KickMember](), command[BanMember](),
			command[UnbanMember](), command[InviteUser](), command[SendMessage](), command[EditMessage](),
			command[DeleteMessage](), command[MarkRead](), command[SyncDepartmentRoom](), command[ReleaseDepartmentRoom]()},
		Events: []Codec[EventData]{event[RoomCreated](), event[RoomUpdated](), event[RoomDeleted](),
			event[UserJoinedRoom](), event[UserLeftRoom](), event[MemberRoleChanged](), event[MemberKicked](),
			event[UserBanned](), event[UserUnbanned](), event[UserInvited](), event[MessageSent](),
			event[MessageUpdated](), event[MessageDeleted](), event[ReadMarkerUpdated](), event[RoomLinkedToDepartment](),
			event[RoomMembersSynced](), event[RoomReleased]()}},
	{Name: AggregateUser, Stream: StreamUsers, SnapshotTag: 2,
		New:       func(id uuid.UUID) Aggregate { return &User{id: id} },
		Snapshots: fieldSnapshots(AggregateUser, func(s *AggregateSnapshot) **UserSnapshot { return &s.User }, (*User).Snapshot, RestoreUser),
		Commands:  []Codec[CommandData]{command[RegisterUser](), command[UpdateProfile](), command[RecordPresence]()},
		Events: []Codec[EventData]{event[UserRegistered](), event[UserProfileUpdated](), event[UserCameOnline](),
			event[UserWentOffline]()}},
	{Name: AggregateSystem, Stream: StreamSystem, SnapshotTag: 3,
		New:       func(id uuid.UUID) Aggregate { return NewSystem(id) },
		Snapshots: fieldSnapshots(AggregateSystem, func(s *AggregateSnapshot) **SystemSnapshot { return &s.System }, (*System).Snapshot, RestoreSystem),
		Commands:  []Codec[CommandData]{command[PublishSystemEvent]()},
		Events:    []Codec[EventData]{event[SystemEventPublished]()}},
	{Name: AggregateOrganization, Stream: StreamOrgs, SnapshotTag: 4,
		New:       func(id uuid.UUID) Aggregate { return NewOrganization(id) },
		Snapshots: stateSnapshots(AggregateOrganization, (*Organization).ID, (*Organization).Snapshot, RestoreOrganization),
		Commands: []Codec[CommandData]{command[CreateOrganization](), command[UpdateOrganization](),
			command[ArchiveOrganization](), command[UnarchiveOrganization](), command[AddOrgMember](),
			command[InviteOrgMember](), command[AcceptOrgInvitation](), command[DeclineOrgInvitation](),
			command[RemoveOrgMember](), command[LeaveOrganization](), command[CreateDepartment](),
			command[RenameDepartment](), command[MoveDepartment](), command[DeleteDepartment](),
			command[SetDepartmentHead](), command[AddDepartmentMember](), command[RemoveDepartmentMember](),
			command[SetPrimaryDepartment](), command[DefinePosition](), command[UpdatePosition](),
			command[DeletePosition](), command[AssignPosition](), command[UnassignPosition](),
			command[CreateOrgRole](), command[UpdateOrgRole](), command[DeleteOrgRole](), command[GrantOrgRole](),
			command[RevokeOrgRole](), command[BroadcastToOrganization](), command[CreateDepartmentRoom](),
			command[AuthorizeProxy](), command[RevokeOrgProxy](), command[RecordProxyRefusal]()},
		Events: []Codec[EventData]{event[OrganizationCreated](), event[OrganizationUpdated](),
			event[OrganizationArchived](), event[OrganizationUnarchived](), event[OrgMemberInvited](),
			event[OrgInvitationDeclined](), event[OrgMemberJoined](), event[OrgMemberRemoved](),
			event[DepartmentCreated](), event[DepartmentRenamed](), event[DepartmentMoved](), event[DepartmentDeleted](),
			event[DepartmentHeadSet](), event[DepartmentMemberAdded](), event[DepartmentMemberRemoved](),
			event[PrimaryDepartmentSet](), event[PositionDefined](), event[PositionUpdated](), event[PositionDeleted](),
			event[PositionAssigned](), event[PositionUnassigned](), event[OrgRoleCreated](), event[OrgRoleUpdated](),
			event[OrgRoleDeleted](), event[OrgRoleGranted](), event[OrgRoleRevoked](), event[OrgBroadcastSent](),
			event[DepartmentRoomCreated](), event[ProxyAuthorized](), event[ProxyRevocationAuthorized](),
			event[ProxyAuthorizationRefused]()}},
	{Name: AggregateProxies, Stream: StreamUsers, SnapshotTag: 6,
		New:       func(id uuid.UUID) Aggregate { return &Proxies{id: id} },
		Snapshots: stateSnapshots(AggregateProxies, (*Proxies).ID, (*Proxies).Snapshot, RestoreProxies),
		Commands:  []Codec[CommandData]{command[GrantProxy](), command[RevokeProxy]()},
		Events:    []Codec[EventData]{event[ProxyGranted](), event[ProxyRevoked]()}},
}

// Codec names one payload type (a command's or an event's) and decodes its JSON into a value
// of that type (RoomCreated, not *RoomCreated), so that type switches see one form.
type Codec[D any] struct {
	Type   string
	Decode func(raw json.RawMessage) (D, error)
}

// command is the codec of command payload T. An absent or null payload is T's zero value (the
// payload of delete_room and leave_room is empty).
func command[T CommandData]() Codec[CommandData] {
	var zero T
	return Codec[CommandData]{Type: zero.CommandType(), Decode: func(raw json.RawMessage) (CommandData, error) {
		var v T
		if len(raw) == 0 || string(raw) == "null" {
			return v, nil
		}
		err := json.Unmarshal(raw, &v)
		return v, err
	}}
}

// event is the codec of event data T.
func event[T EventData]() Codec[EventData] {
	var zero T
	return Codec[EventData]{Type: zero.EventType(), Decode: func(raw json.RawMessage) (EventData, error) {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		return v, nil
	}}
}

// kindIndex is the table looked up by each of its keys, built once.
type kindIndex struct {
	byName   map[string]*Kind
	byTag    map[byte]*Kind
	commands map[string]ownedCommand
	events   map[string]Codec[EventData]
}

type ownedCommand struct {
	kind  *Kind
	codec Codec[CommandData]
}

var index = indexKinds(kinds)

// indexKinds indexes the table; a name, tag, stream, command or event type missing or named
// twice is a mistake in the table, which no run may start with.
func indexKinds(ks []Kind) kindIndex {
	ix := kindIndex{byName: map[string]*Kind{}, byTag: map[byte]*Kind{}, commands: map[string]ownedCommand{},
		events: map[string]Codec[EventData]{}}
	for i := range ks {
		k := &ks[i]
		if k.Name == "" || k.Stream == "" || k.SnapshotTag == 0 || k.New == nil || k.Snapshots.Take == nil || k.Snapshots.Restore == nil {
			panic(fmt.Sprintf("domain: kind %q lacks a name, stream, snapshot tag, constructor or snapshot form", k.Name))
		}
		if ix.byName[k.Name] != nil || ix.byTag[k.SnapshotTag] != nil {
			panic(fmt.Sprintf("domain: kind %q or snapshot tag %d twice", k.Name, k.SnapshotTag))
		}
		ix.byName[k.Name], ix.byTag[k.SnapshotTag] = k, k
		for _, c := range k.Commands {
			if _, dup := ix.commands[c.Type]; dup {
				panic(fmt.Sprintf("domain: command type %q twice", c.Type))
			}
			ix.commands[c.Type] = ownedCommand{k, c}
		}
		for _, e := range k.Events {
			if _, dup := ix.events[e.Type]; dup {
				panic(fmt.Sprintf("domain: event type %q twice", e.Type))
			}
			ix.events[e.Type] = e
		}
	}
	return ix
}

// Kinds lists the kinds of aggregate, in the table's order.
func Kinds() []Kind { return slices.Clone(kinds) }

// KindOf is the kind named aggregateType; an error wrapping ErrUnknownKind if there is none.
// The kind is the table's own row: read it, never change it.
func KindOf(aggregateType string) (*Kind, error) {
	if k := index.byName[aggregateType]; k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownKind, aggregateType)
}

// KindOfSnapshotTag is the kind whose snapshot entries carry tag, or nil.
func KindOfSnapshotTag(tag byte) *Kind { return index.byTag[tag] }

// KindOfCommand is the kind that owns commandType; an error wrapping ErrUnknownCommand if none
// does.
func KindOfCommand(commandType string) (*Kind, error) {
	if c, ok := index.commands[commandType]; ok {
		return c.kind, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownCommand, commandType)
}

// NewAggregate returns the empty aggregate of a type, before its first event. The type must be
// one of the table's (KindOf tells): an unknown one is a mistake of the caller, and panics.
func NewAggregate(aggregateType string, id uuid.UUID) Aggregate {
	k, err := KindOf(aggregateType)
	if err != nil {
		panic("domain.NewAggregate: " + err.Error())
	}
	return k.New(id)
}

// AggregateTypeOf is the type of the aggregate a command payload addresses, "" for a payload
// (or nil) of no kind.
func AggregateTypeOf(p CommandData) string {
	if p == nil {
		return ""
	}
	if c, ok := index.commands[p.CommandType()]; ok {
		return c.kind.Name
	}
	return ""
}

// decodeCommand decodes the payload of a command of type commandType.
func decodeCommand(commandType string, raw json.RawMessage) (CommandData, error) {
	c, ok := index.commands[commandType]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownCommand, commandType)
	}
	return c.codec.Decode(raw)
}

// EventTypes lists every event type the domain knows, sorted.
func EventTypes() []string {
	out := make([]string, 0, len(index.events))
	for t := range index.events {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
