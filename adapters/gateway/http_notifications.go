package gateway

import (
	"net/http"
	"strconv"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/projections/queries"
)

// listNotifications: GET /notifications?unread=&limit=&before=&position=, the caller's own,
// newest first (queries.Notifications). before is the id of the last notification of the
// previous page; position is waited for by the query, on the notification projection.
func (g *Gateway) listNotifications(c echo.Context) error {
	if err := g.queries.NotificationsServed(); err != nil {
		return err
	}
	var in queries.Notifications
	if raw := c.QueryParam("unread"); raw != "" {
		v, err := strconv.ParseBool(raw)
		if err != nil {
			return errValidation("unread must be true or false")
		}
		in.UnreadOnly = v
	}
	limit, err := intParam(c, "limit", queries.DefaultNotificationsLimit, 1, queries.MaxNotificationsLimit)
	if err != nil {
		return err
	}
	in.Limit = int(limit)
	if raw := c.QueryParam("before"); raw != "" {
		id, err := uuid.Parse(raw)
		if err != nil {
			return errValidation("before must be the id of a notification")
		}
		in.Before = &id
	}
	if raw := c.QueryParam("position"); raw != "" {
		if in.Position, err = g.parsePosition(raw); err != nil {
			return err
		}
	}
	page, err := g.queries.Notifications(c.Request().Context(), currentUser(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// markNotificationRead: POST /notifications/{id}/read (queries.MarkNotificationRead).
func (g *Gateway) markNotificationRead(c echo.Context) error {
	if err := g.queries.NotificationsServed(); err != nil {
		return err
	}
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return queries.ErrNotificationNotFound() // a malformed id names no notification
	}
	res, err := g.queries.MarkNotificationRead(c.Request().Context(), currentUser(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}
