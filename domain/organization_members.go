package domain

import (
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	// The IANA database compiled in: every process accepts and refuses the same time zones,
	// whatever the machine it runs on has installed.
	_ "time/tzdata"

	"github.com/google/uuid"
)

// The organization's own commands: creating, updating and archiving it, its members and
// invitations, broadcasts; and the text rules of its names.

// MaxTimeZoneLength bounds a time zone name (the longest IANA name is about 30 characters).
const MaxTimeZoneLength = 64

var slugPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// orgLine is a name as stored: trimmed, 1 to max characters, a line of text (checkText) with
// something visible, the rule of room names.
func orgLine(field, s string, maxRunes int) (string, error) {
	v := strings.TrimSpace(s)
	if v == "" || utf8.RuneCountInString(v) > maxRunes {
		return "", reject(CodeValidationFailed, "%s must be 1 to %d characters", field, maxRunes)
	}
	v, err := checkText(field, v, textLine)
	if err != nil {
		return "", err
	}
	if !hasVisible(v) {
		return "", reject(CodeValidationFailed, "%s must hold at least one visible character", field)
	}
	return v, nil
}

// orgBlock is a text of several lines as stored: trimmed, at most max characters (at least
// one visible when required).
func orgBlock(field, s string, maxRunes int, required bool) (string, error) {
	v := strings.TrimSpace(s)
	if n := utf8.RuneCountInString(v); n > maxRunes || (required && n == 0) {
		if required {
			return "", reject(CodeValidationFailed, "%s must be 1 to %d characters", field, maxRunes)
		}
		return "", reject(CodeValidationFailed, "%s is longer than %d characters", field, maxRunes)
	}
	v, err := checkText(field, v, textBlock)
	if err != nil {
		return "", err
	}
	if required && !hasVisible(v) {
		return "", reject(CodeValidationFailed, "%s must hold at least one visible character", field)
	}
	return v, nil
}

// orgSlug checks a slug: MinSlugLength to MaxSlugLength lower-case letters, digits and inner
// hyphens.
func orgSlug(s string) error {
	if len(s) < MinSlugLength || len(s) > MaxSlugLength || !slugPattern.MatchString(s) {
		return reject(CodeValidationFailed,
			"slug must be %d to %d lower-case letters, digits and hyphens, starting and ending with a letter or digit",
			MinSlugLength, MaxSlugLength)
	}
	return nil
}

// orgTimeZone is a time zone as stored: an IANA name that time.LoadLocation knows; "" is
// "UTC". "Local" names the machine's zone, which differs between machines, and is refused.
func orgTimeZone(s string) (string, error) {
	tz := strings.TrimSpace(s)
	if tz == "" {
		return "UTC", nil
	}
	if len(tz) > MaxTimeZoneLength {
		return "", reject(CodeValidationFailed, "time_zone is longer than %d characters", MaxTimeZoneLength)
	}
	if _, err := checkText("time_zone", tz, textLine); err != nil {
		return "", err
	}
	if tz == "Local" {
		return "", reject(CodeValidationFailed, "time_zone must be an IANA name such as Europe/Berlin, not Local")
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return "", reject(CodeValidationFailed, "time_zone %q is not an IANA time zone name", tz)
	}
	return tz, nil
}

// orgUsername checks the name a command gives for a user it adds or invites.
func orgUsername(name string) error {
	if problem := UsernameProblem(name); problem != "" {
		return reject(CodeValidationFailed, "%s", problem)
	}
	return nil
}

// create opens the organization: OrganizationCreated, the creator's OrgMemberJoined (via
// "created") and their owner grant, in one transaction.
func (o *Organization) create(cmd Command, c CreateOrganization, now time.Time) ([]Event, error) {
	if err := orgSlug(c.Slug); err != nil {
		return nil, err
	}
	if OrgIDFor(c.Slug) != cmd.AggregateID {
		return nil, reject(CodeValidationFailed, "the organization with slug %q has id %s, not %s", c.Slug, OrgIDFor(c.Slug), cmd.AggregateID)
	}
	if o.created {
		return nil, reject(CodeSlugTaken, "slug %q is taken", c.Slug)
	}
	if cmd.ActorID == uuid.Nil {
		return nil, reject(CodeForbidden, "an organization needs a signed-in creator")
	}
	name, err := orgLine("name", c.Name, MaxOrgNameRunes)
	if err != nil {
		return nil, err
	}
	desc, err := orgBlock("description", c.Description, MaxOrgDescriptionRunes, false)
	if err != nil {
		return nil, err
	}
	tz, err := orgTimeZone(c.TimeZone)
	if err != nil {
		return nil, err
	}
	id := cmd.AggregateID
	return o.emit(cmd, now,
		OrganizationCreated{OrgID: id, Name: name, Slug: c.Slug, Description: desc, TimeZone: tz,
			OwnerID: cmd.ActorID, OwnerUsername: cmd.ActorName, CreatedAt: now.UTC()},
		OrgMemberJoined{OrgID: id, UserID: cmd.ActorID, Username: cmd.ActorName, Via: JoinedAsCreator,
			AddedBy: cmd.ActorID, JoinedAt: now.UTC()},
		OrgRoleGranted{OrgID: id, UserID: cmd.ActorID, RoleID: OrgRoleIDFor(id, RoleOwner), GrantedBy: cmd.ActorID},
	), nil
}

func (o *Organization) update(cmd Command, p UpdateOrganization, now time.Time) ([]Event, error) {
	if err := o.need(cmd.ActorID, PermManageOrganization, uuid.Nil); err != nil {
		return nil, err
	}
	if p.Name == nil && p.Description == nil && p.TimeZone == nil {
		return nil, reject(CodeValidationFailed, "nothing to update: give a name, a description or a time zone")
	}
	ev := OrganizationUpdated{OrgID: o.id, UpdatedBy: cmd.ActorID, UpdatedAt: now.UTC()}
	if p.Name != nil {
		name, err := orgLine("name", *p.Name, MaxOrgNameRunes)
		if err != nil {
			return nil, err
		}
		if name != o.name {
			ev.Name = &name
		}
	}
	if p.Description != nil {
		desc, err := orgBlock("description", *p.Description, MaxOrgDescriptionRunes, false)
		if err != nil {
			return nil, err
		}
		if desc != o.description {
			ev.Description = &desc
		}
	}
	if p.TimeZone != nil {
		tz, err := orgTimeZone(*p.TimeZone)
		if err != nil {
			return nil, err
		}
		if tz != o.timeZone {
			ev.TimeZone = &tz
		}
	}
	if ev.Name == nil && ev.Description == nil && ev.TimeZone == nil {
		return nil, reject(CodeValidationFailed, "nothing changes: the organization already has these settings")
	}
	return o.emit(cmd, now, ev), nil
}

func (o *Organization) addMember(cmd Command, p AddOrgMember, now time.Time) ([]Event, error) {
	if err := o.need(cmd.ActorID, PermManageMembers, uuid.Nil); err != nil {
		return nil, err
	}
	if p.UserID == uuid.Nil {
		return nil, reject(CodeValidationFailed, "user_id is required")
	}
	if o.IsMember(p.UserID) {
		return nil, reject(CodeAlreadyMember, "user %s is already a member", p.UserID)
	}
	if err := orgUsername(p.Username); err != nil {
		return nil, err
	}
	return o.emit(cmd, now, OrgMemberJoined{OrgID: o.id, UserID: p.UserID, Username: p.Username, Via: JoinedByAdding,
		AddedBy: cmd.ActorID, JoinedAt: now.UTC()}), nil
}

func (o *Organization) inviteMember(cmd Command, p InviteOrgMember, now time.Time) ([]Event, error) {
	if err := o.need(cmd.ActorID, PermManageMembers, uuid.Nil); err != nil {
		return nil, err
	}
	if p.UserID == uuid.Nil {
		return nil, reject(CodeValidationFailed, "user_id is required")
	}
	if o.IsMember(p.UserID) {
		return nil, reject(CodeAlreadyMember, "user %s is already a member", p.UserID)
	}
	if o.IsInvited(p.UserID) {
		return nil, reject(CodeValidationFailed, "user %s is already invited", p.UserID)
	}
	if err := orgUsername(p.Username); err != nil {
		return nil, err
	}
	return o.emit(cmd, now, OrgMemberInvited{OrgID: o.id, UserID: p.UserID, Username: p.Username,
		InvitedBy: cmd.ActorID, InvitedAt: now.UTC()}), nil
}

// acceptInvitation: the member joins under their own name (the one they were invited under
// when the command carries none), added by who invited them.
func (o *Organization) acceptInvitation(cmd Command, now time.Time) ([]Event, error) {
	if o.IsMember(cmd.ActorID) {
		return nil, reject(CodeAlreadyMember, "you are already a member")
	}
	inv := o.invited[cmd.ActorID]
	name := cmd.ActorName
	if name == "" {
		name = inv.username
	}
	return o.emit(cmd, now, OrgMemberJoined{OrgID: o.id, UserID: cmd.ActorID, Username: name, Via: JoinedByInvitation,
		AddedBy: inv.invitedBy, JoinedAt: now.UTC()}), nil
}

func (o *Organization) declineInvitation(cmd Command, now time.Time) ([]Event, error) {
	if !o.IsInvited(cmd.ActorID) {
		return nil, reject(CodeValidationFailed, "you have no open invitation to this organization")
	}
	return o.emit(cmd, now, OrgInvitationDeclined{OrgID: o.id, UserID: cmd.ActorID}), nil
}

// removeMember needs manage_members over the organization and, as removing ends the member's
// grants, every permission of every role they hold over its scope (and the owner role for an
// owner): nobody takes away more than they hold.
func (o *Organization) removeMember(cmd Command, p RemoveOrgMember, now time.Time) ([]Event, error) {
	if err := o.need(cmd.ActorID, PermManageMembers, uuid.Nil); err != nil {
		return nil, err
	}
	if p.UserID == cmd.ActorID {
		return nil, reject(CodeValidationFailed, "to end your own membership, leave the organization")
	}
	m, err := o.member(p.UserID)
	if err != nil {
		return nil, err
	}
	for g := range m.grants {
		if err := o.mayTakeAway(cmd.ActorID, g); err != nil {
			return nil, err
		}
	}
	return o.emit(cmd, now, OrgMemberRemoved{OrgID: o.id, UserID: p.UserID, Username: m.username,
		RemovedBy: cmd.ActorID, RemovedAt: now.UTC()}), nil
}

func (o *Organization) broadcast(cmd Command, p BroadcastToOrganization, now time.Time) ([]Event, error) {
	if err := o.need(cmd.ActorID, PermBroadcast, uuid.Nil); err != nil {
		return nil, err
	}
	title, err := orgLine("title", p.Title, MaxBroadcastTitleRunes)
	if err != nil {
		return nil, err
	}
	body, err := orgBlock("body", p.Body, MaxBroadcastBodyRunes, true)
	if err != nil {
		return nil, err
	}
	return o.emit(cmd, now, OrgBroadcastSent{OrgID: o.id, BroadcastID: BroadcastIDFor(cmd.ID), Title: title, Body: body,
		SentBy: cmd.ActorID, SentAt: now.UTC()}), nil
}
