package gateway

import (
	"net/http"
	"strconv"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/queries"
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
	act, err := g.app.CreateRoom(c.Request().Context(), currentUser(c), commands.CreateRoom{
		Name: &req.Name, Description: req.Description, IsPrivate: req.IsPrivate, Password: req.Password, Key: idempotencyKey(c),
	})
	return g.answer(c, http.StatusCreated, act, err)
}

// listRooms: GET /rooms?q=&mine=&org=&limit=&cursor=. The default page is the largest, so that a
// client that does not page gets what the unpaged listing gave (and now a next_cursor).
func (g *Gateway) listRooms(c echo.Context) error {
	text, err := textQuery(c, "q")
	if err != nil {
		return err
	}
	in := queries.Rooms{Text: text, Org: c.QueryParam("org"), Cursor: c.QueryParam("cursor")}
	limit, err := intParam(c, "limit", queries.MaxRoomsLimit, 1, queries.MaxRoomsLimit)
	if err != nil {
		return err
	}
	in.Limit = int(limit)
	if raw := c.QueryParam("mine"); raw != "" {
		if in.Mine, err = strconv.ParseBool(raw); err != nil {
			return errValidation("mine must be true or false")
		}
	}
	out, err := g.queries.Rooms(c.Request().Context(), currentUser(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (g *Gateway) getRoom(c echo.Context) error {
	id, err := roomParam(c)
	if err != nil {
		return err
	}
	room, err := g.queries.Room(c.Request().Context(), currentUser(c), id)
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
	// The body is optional; a password in it is checked by the use case.
	var req joinRoomRequest
	if err := readBody(c, &req, true); err != nil {
		return err
	}
	act, err := g.app.JoinRoom(c.Request().Context(), currentUser(c), id, req.Password, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}

func (g *Gateway) leaveRoom(c echo.Context) error {
	id, err := roomParam(c)
	if err != nil {
		return err
	}
	act, err := g.app.LeaveRoom(c.Request().Context(), currentUser(c), id, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}

func (g *Gateway) roomMembers(c echo.Context) error {
	id, err := roomParam(c)
	if err != nil {
		return err
	}
	members, err := g.queries.Members(c.Request().Context(), currentUser(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"members": members})
}

type updateRoomRequest struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

// updateRoom: PATCH /rooms/{id} {name?, description?}: owner or admin.
func (g *Gateway) updateRoom(c echo.Context) error {
	id, err := roomParam(c)
	if err != nil {
		return err
	}
	var req updateRoomRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	act, err := g.app.UpdateRoom(c.Request().Context(), currentUser(c),
		commands.UpdateRoom{RoomID: id, Name: req.Name, Description: req.Description, Key: idempotencyKey(c)})
	return g.answer(c, http.StatusOK, act, err)
}

// deleteRoom: DELETE /rooms/{id}: owner only.
func (g *Gateway) deleteRoom(c echo.Context) error {
	id, err := roomParam(c)
	if err != nil {
		return err
	}
	act, err := g.app.DeleteRoom(c.Request().Context(), currentUser(c), id, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}

type setRoleRequest struct {
	Role *string `json:"role"`
}

// setRole: PUT /rooms/{id}/members/{user_id}/role {role}: owner only.
func (g *Gateway) setRole(c echo.Context) error {
	roomID, userID, err := roomAndUserParams(c)
	if err != nil {
		return err
	}
	var req setRoleRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	act, err := g.app.SetRole(c.Request().Context(), currentUser(c),
		commands.SetRole{RoomID: roomID, UserID: userID, Role: req.Role, Key: idempotencyKey(c)})
	return g.answer(c, http.StatusOK, act, err)
}

// kickMember: DELETE /rooms/{id}/members/{user_id}: owner or admin.
func (g *Gateway) kickMember(c echo.Context) error {
	roomID, userID, err := roomAndUserParams(c)
	if err != nil {
		return err
	}
	act, err := g.app.KickMember(c.Request().Context(), currentUser(c), roomID, userID, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}

type banRequest struct {
	Reason string `json:"reason"`
}

// banMember: PUT /rooms/{id}/bans/{user_id} {reason?}: owner or admin. PUT because the ban is a
// resource named by the user: banning twice is validation_failed (already banned), not a
// second ban.
func (g *Gateway) banMember(c echo.Context) error {
	roomID, userID, err := roomAndUserParams(c)
	if err != nil {
		return err
	}
	var req banRequest
	if err := readBody(c, &req, true); err != nil {
		return err
	}
	act, err := g.app.BanMember(c.Request().Context(), currentUser(c), roomID, userID, req.Reason, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}

// unbanMember: DELETE /rooms/{id}/bans/{user_id}: owner or admin.
func (g *Gateway) unbanMember(c echo.Context) error {
	roomID, userID, err := roomAndUserParams(c)
	if err != nil {
		return err
	}
	act, err := g.app.UnbanMember(c.Request().Context(), currentUser(c), roomID, userID, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}

type inviteRequest struct {
	UserID *string `json:"user_id"`
}

// inviteUser: POST /rooms/{id}/invitations {user_id}: a member of a public room, the owner or
// an admin of a private one. 201: the invitation is a new resource.
func (g *Gateway) inviteUser(c echo.Context) error {
	roomID, err := roomParam(c)
	if err != nil {
		return err
	}
	var req inviteRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	userID, err := commands.ParseID("user_id", req.UserID)
	if err != nil {
		return err
	}
	act, err := g.app.InviteUser(c.Request().Context(), currentUser(c), roomID, userID, idempotencyKey(c))
	return g.answer(c, http.StatusCreated, act, err)
}

type markReadRequest struct {
	Seq *int64 `json:"seq"`
}

// markRead: POST /rooms/{id}/read {seq}: moves the caller's read marker forward. A seq at or
// below the marker is accepted and changes nothing (the answer then has no position).
func (g *Gateway) markRead(c echo.Context) error {
	roomID, err := roomParam(c)
	if err != nil {
		return err
	}
	var req markReadRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	act, err := g.app.MarkRead(c.Request().Context(), currentUser(c), commands.MarkRead{RoomID: roomID, Seq: req.Seq, Key: idempotencyKey(c)})
	return g.answer(c, http.StatusOK, act, err)
}

// roomAndIDParams are the room id of /rooms/{id}/… and the id in its path parameter param (a
// message's, a user's); a malformed id names nothing: notFound with msg.
func roomAndIDParams(c echo.Context, param, notFound, msg string) (uuid.UUID, uuid.UUID, error) {
	roomID, err := roomParam(c)
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	id, err := uuid.Parse(c.Param(param))
	if err != nil {
		return uuid.Nil, uuid.Nil, &apiError{Code: notFound, Message: msg}
	}
	return roomID, id, nil
}

// roomAndUserParams are the room and user ids of /rooms/{id}/…/{user_id}.
func roomAndUserParams(c echo.Context) (uuid.UUID, uuid.UUID, error) {
	return roomAndIDParams(c, "user_id", domain.CodeUserNotFound, "no such user")
}
