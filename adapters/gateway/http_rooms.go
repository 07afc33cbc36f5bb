package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

type createRoomRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	IsPrivate   bool   `json:"is_private"`
	Password    string `json:"password"`
}

type joinRoomRequest struct {
	Password string `json:"password"`
}

func (g *Gateway) createRoom(c echo.Context) error {
	var req createRoomRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	a, err := g.prepareCreateRoom(c.Request().Context(), currentUser(c), createRoomInput(req))
	if err != nil {
		return err
	}
	return g.answerAction(c, a)
}

// answerAction executes a prepared command and writes its answer.
func (g *Gateway) answerAction(c echo.Context, a action) error {
	res, err := g.execute(c.Request().Context(), a)
	if err != nil {
		return err
	}
	return c.JSON(a.status, res)
}

func (g *Gateway) listRooms(c echo.Context) error {
	rooms, err := g.rm.ListRooms(c.Request().Context(), currentUser(c), c.QueryParam("q"))
	if err != nil {
		return err
	}
	if rooms == nil {
		rooms = []projections.Room{}
	}
	return c.JSON(http.StatusOK, map[string]any{"rooms": rooms})
}

func (g *Gateway) getRoom(c echo.Context) error {
	id, err := roomParam(c)
	if err != nil {
		return err
	}
	room, _, err := g.visibleRoom(c.Request().Context(), id, currentUser(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, room)
}

func (g *Gateway) joinRoom(c echo.Context) error {
	id, err := roomParam(c)
	if err != nil {
		return err
	}
	// The body is optional; a password in it is checked by joinCommand.
	var req joinRoomRequest
	if err := readBody(c, &req, true); err != nil {
		return err
	}
	ctx := c.Request().Context()
	join, err := g.joinCommand(ctx, id, req.Password)
	if err != nil {
		return err
	}
	a, err := g.prepareMembership(ctx, currentUser(c), id, join)
	if err != nil {
		return err
	}
	return g.answerAction(c, a)
}

func (g *Gateway) leaveRoom(c echo.Context) error {
	id, err := roomParam(c)
	if err != nil {
		return err
	}
	a, err := g.prepareMembership(c.Request().Context(), currentUser(c), id, domain.LeaveRoom{})
	if err != nil {
		return err
	}
	return g.answerAction(c, a)
}

func (g *Gateway) roomMembers(c echo.Context) error {
	id, err := roomParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, _, err := g.visibleRoom(ctx, id, currentUser(c)); err != nil {
		return err
	}
	members, err := g.rm.Members(ctx, id)
	if err != nil {
		return err
	}
	if members == nil {
		members = []projections.Member{}
	}
	return c.JSON(http.StatusOK, map[string]any{"members": members})
}

// visibleRoom loads a room the viewer may see: public rooms are visible to everyone, private
// ones only to their members. To anyone else a private room does not exist (404, not 403), so
// that its existence is not revealed.
func (g *Gateway) visibleRoom(ctx context.Context, id, viewer uuid.UUID) (room projections.Room, member bool, err error) {
	room, err = g.rm.Room(ctx, id)
	if errors.Is(err, readmodel.ErrNotFound) {
		return room, false, errRoomNotFound()
	}
	if err != nil {
		return room, false, err
	}
	member, err = g.rm.IsMember(ctx, id, viewer)
	if err != nil {
		return room, false, err
	}
	if room.IsPrivate && !member {
		return projections.Room{}, false, errRoomNotFound()
	}
	return room, member, nil
}
