package gateway

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/projections/queries"
)

// searchMessages: GET /search/messages?q=&room_id=&limit=&offset=&position= (queries.
// SearchMessages). ?position= is waited for by the query, on the search index itself.
func (g *Gateway) searchMessages(c echo.Context) error {
	q, err := textQuery(c, "q")
	if err != nil {
		return err
	}
	in := queries.SearchMessages{Text: q}
	// Checked before the other parameters are read, so that a request with several faults is
	// told the same one as ever.
	if err := in.Check(); err != nil {
		return err
	}
	limit, err := intParam(c, "limit", queries.DefaultSearchLimit, 1, queries.MaxSearchLimit)
	if err != nil {
		return err
	}
	offset, err := intParam(c, "offset", 0, 0, queries.MaxSearchOffset)
	if err != nil {
		return err
	}
	in.Limit, in.Offset = int(limit), int(offset)
	if raw := c.QueryParam("room_id"); raw != "" {
		if in.RoomID, err = uuid.Parse(raw); err != nil {
			return errRoomNotFound() // as for a malformed id in a path: it names no room
		}
	}
	if raw := c.QueryParam("position"); raw != "" {
		if in.Position, err = g.parsePosition(raw); err != nil {
			return err
		}
	}
	res, err := g.queries.SearchMessages(c.Request().Context(), currentUser(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}
