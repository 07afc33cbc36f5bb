package queries

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/notify"
)

// Page sizes of the notification listing.
const (
	DefaultNotificationsLimit = 50
	MaxNotificationsLimit     = 200
)

// Notifications is the input of a page of the viewer's notifications.
type Notifications struct {
	UnreadOnly bool
	Limit      int
	// Before is the id of the last notification of the previous page; nil starts at the newest.
	Before *uuid.UUID
	// Position, when not zero, is one the notification projection must include first.
	Position domain.Position
}

// NotificationsPage is a page of notifications, newest first.
type NotificationsPage struct {
	Notifications []notify.Notification `json:"notifications"`
	HasMore       bool                  `json:"has_more"`
}

// NotificationResult is the answer of marking a notification read.
type NotificationResult struct {
	Notification notify.Notification `json:"notification"`
}

// NotificationsServed fails with unavailable when this server serves no notifications. The
// notification queries answer it before anything else, their input's faults included; a
// transport that decodes an input before calling them asks it first.
func (a *Application) NotificationsServed() error {
	if a.notes == nil {
		return newError(CodeUnavailable, "notifications are not served here")
	}
	return nil
}

// Notifications lists a page of the viewer's own notifications. Position waits for the
// notification projection, not for the read model, to include that command.
func (a *Application) Notifications(ctx context.Context, viewer uuid.UUID, in Notifications) (NotificationsPage, error) {
	if err := a.NotificationsServed(); err != nil {
		return NotificationsPage{}, err
	}
	if !in.Position.IsZero() {
		if err := a.wait(ctx, in.Position, a.notes.WaitFor); err != nil {
			if errors.Is(err, notify.ErrNotCaughtUp) {
				return NotificationsPage{}, newError(CodeNotCaughtUp, "the notifications have not reached that position yet; try again")
			}
			return NotificationsPage{}, err
		}
	}
	list, more, err := a.notes.List(ctx, viewer, notify.ListQuery{UnreadOnly: in.UnreadOnly, Limit: in.Limit, Before: in.Before})
	if errors.Is(err, notify.ErrNotFound) {
		return NotificationsPage{}, errValidation("before names no notification of yours")
	}
	if err != nil {
		return NotificationsPage{}, err
	}
	if list == nil {
		list = []notify.Notification{}
	}
	return NotificationsPage{Notifications: list, HasMore: more}, nil
}

// MarkNotificationRead marks one of the viewer's notifications read. Marking is user state,
// written directly (not a command): it must survive a rebuild of the projection, which a
// separate table of read flags does.
func (a *Application) MarkNotificationRead(ctx context.Context, viewer, id uuid.UUID) (NotificationResult, error) {
	if err := a.NotificationsServed(); err != nil {
		return NotificationResult{}, err
	}
	n, err := a.notes.MarkRead(ctx, viewer, id)
	if errors.Is(err, notify.ErrNotFound) {
		return NotificationResult{}, ErrNotificationNotFound()
	}
	if err != nil {
		return NotificationResult{}, err
	}
	return NotificationResult{Notification: n}, nil
}
