package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/domain"
)

// systemEventRequest is the body of POST /admin/system-events.
type systemEventRequest struct {
	EventType string          `json:"event_type"`
	Message   string          `json:"message"`
	Data      json.RawMessage `json:"data"`
}

// publishSystemEvent: POST /admin/system-events {event_type, message, data?}. The admin check
// is the gateway's, where the configuration and the caller's identity are; the system aggregate
// validates what is said. Every connected client then gets it as `system_event` (the push
// projector reads system-events); a security alert also becomes a notification for every user.
func (g *Gateway) publishSystemEvent(c echo.Context) error {
	ctx := c.Request().Context()
	actor, name, err := g.requireAdmin(c, "publish system events")
	if err != nil {
		return err
	}
	var req systemEventRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	res, err := g.app.PublishSystemEvent(ctx, actor, name, domain.PublishSystemEvent{
		Kind: req.EventType, Message: req.Message, Data: req.Data,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, res)
}
