package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/notify"
)

// Notifications is the notification projection the gateway answers from (notify.Store). List
// fails with notify.ErrNotFound when q.Before names no notification of the user; MarkRead with
// notify.ErrNotFound for an unknown id or another user's notification; WaitFor with
// notify.ErrNotCaughtUp when the projection does not reach pos within timeout.
type Notifications interface {
	List(ctx context.Context, user uuid.UUID, q notify.ListQuery) ([]notify.Notification, bool, error)
	MarkRead(ctx context.Context, user, id uuid.UUID) (notify.Notification, error)
	WaitFor(ctx context.Context, pos domain.Position, timeout time.Duration) error
}

// notificationsPage is the answer of GET /notifications.
type notificationsPage struct {
	Notifications []notify.Notification `json:"notifications"`
	HasMore       bool                  `json:"has_more"`
}

// notificationResult is the answer of POST /notifications/{id}/read.
type notificationResult struct {
	Notification notify.Notification `json:"notification"`
}

func (g *Gateway) notifications() (Notifications, error) {
	if g.notes == nil {
		return nil, newError(codeUnavailable, "notifications are not served here")
	}
	return g.notes, nil
}

// listNotifications: GET /notifications?unread=&limit=&before=&position=, the caller's own,
// newest first. before is the id of the last notification of the previous page; position waits
// for the notification projection (not the read model) to include that command.
func (g *Gateway) listNotifications(c echo.Context) error {
	notes, err := g.notifications()
	if err != nil {
		return err
	}
	q := notify.ListQuery{}
	if raw := c.QueryParam("unread"); raw != "" {
		v, err := strconv.ParseBool(raw)
		if err != nil {
			return errValidation("unread must be true or false")
		}
		q.UnreadOnly = v
	}
	limit, err := intParam(c, "limit", defaultPageSize, 1, maxPageSize)
	if err != nil {
		return err
	}
	q.Limit = int(limit)
	if raw := c.QueryParam("before"); raw != "" {
		id, err := uuid.Parse(raw)
		if err != nil {
			return errValidation("before must be the id of a notification")
		}
		q.Before = &id
	}
	ctx := c.Request().Context()
	if raw := c.QueryParam("position"); raw != "" {
		pos, err := g.parsePosition(raw)
		if err != nil {
			return err
		}
		if err := g.waitForPosition(ctx, pos, notes.WaitFor); err != nil {
			if errors.Is(err, notify.ErrNotCaughtUp) {
				return newError(codeNotCaughtUp, "the notifications have not reached that position yet; try again")
			}
			return err
		}
	}
	list, more, err := notes.List(ctx, currentUser(c), q)
	if errors.Is(err, notify.ErrNotFound) {
		return errValidation("before names no notification of yours")
	}
	if err != nil {
		return err
	}
	if list == nil {
		list = []notify.Notification{}
	}
	return c.JSON(http.StatusOK, notificationsPage{Notifications: list, HasMore: more})
}

// markNotificationRead: POST /notifications/{id}/read. Marking is user state, written directly
// (not a command): it must survive a rebuild of the projection, which a separate table of read
// flags does.
func (g *Gateway) markNotificationRead(c echo.Context) error {
	notes, err := g.notifications()
	if err != nil {
		return err
	}
	notFound := newError(codeNotFound, "no such notification")
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return notFound
	}
	n, err := notes.MarkRead(c.Request().Context(), currentUser(c), id)
	if errors.Is(err, notify.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, notificationResult{Notification: n})
}
