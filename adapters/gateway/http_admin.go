package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/domain"
)

// systemEventRequest is the body of POST /admin/system-events.
type systemEventRequest struct {
	EventType string          `json:"event_type"`
	Message   string          `json:"message"`
	Data      json.RawMessage `json:"data"`
}

// SystemEvent is the contract's system event, as the `system_event` frame carries it.
type SystemEvent struct {
	ID        uuid.UUID       `json:"id"`
	EventType string          `json:"event_type"`
	Message   string          `json:"message"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// systemEventResult is the answer of POST /admin/system-events.
type systemEventResult struct {
	Event    SystemEvent `json:"event"`
	Position string      `json:"position"`
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
	cmd := domain.NewCommand(uuid.New(), domain.SystemAggregateID, actor, name, time.Now(), domain.PublishSystemEvent{
		Kind: req.EventType, Message: req.Message, Data: req.Data,
	})
	reply, err := g.dispatchCommand(ctx, cmd, defaultTimeoutMsg)
	if err != nil {
		return err
	}
	for _, e := range reply.Events {
		if d, ok := e.Data.(domain.SystemEventPublished); ok {
			return c.JSON(http.StatusCreated, systemEventResult{Position: reply.Position, Event: SystemEvent{
				ID: e.ID, EventType: d.Kind, Message: d.Message, Data: d.Data, CreatedAt: e.OccurredAt,
			}})
		}
	}
	return fmt.Errorf("publish system event: accepted reply without a SystemEventPublished event")
}
