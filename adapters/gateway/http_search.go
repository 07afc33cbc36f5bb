package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/search"
)

// Searcher answers message searches from the search projection. Search fails with
// search.ErrRoomNotFound or search.ErrNotAMember for a room the caller may not read; WaitFor
// fails with search.ErrNotCaughtUp when the search index does not reach pos within timeout.
type Searcher interface {
	Search(ctx context.Context, q search.Query) ([]projections.Message, error)
	WaitFor(ctx context.Context, pos domain.Position, timeout time.Duration) error
}

// maxSearchQueryRunes bounds q of GET /search/messages.
const maxSearchQueryRunes = 200

type searchResult struct {
	Results []projections.Message `json:"results"`
}

// searchMessages: GET /search/messages?q=&room_id=&limit=&offset=&position=. The messages
// matching q in the rooms the caller may read (their rooms; only room_id when given), best
// first. room_id is checked as history checks its room: unknown, deleted, or private to the
// caller is 404, public but not joined is 403.
//
// ?position= waits for the search index to include that position, not for the read model: the
// two are separate projections and a search must see the command whose position it was given
// even when the read model is ahead of the index.
func (g *Gateway) searchMessages(c echo.Context) error {
	q, err := textQuery(c, "q")
	if err != nil {
		return err
	}
	text := strings.TrimSpace(q)
	if n := utf8.RuneCountInString(text); n == 0 || n > maxSearchQueryRunes || !utf8.ValidString(text) {
		return errValidation("q must be 1 to %d characters", maxSearchQueryRunes)
	}
	limit, err := intParam(c, "limit", search.DefaultLimit, 1, search.MaxLimit)
	if err != nil {
		return err
	}
	offset, err := intParam(c, "offset", 0, 0, search.MaxOffset)
	if err != nil {
		return err
	}
	var roomID uuid.UUID
	if raw := c.QueryParam("room_id"); raw != "" {
		if roomID, err = uuid.Parse(raw); err != nil {
			return errRoomNotFound() // as for a malformed id in a path: it names no room
		}
	}
	var pos domain.Position
	if raw := c.QueryParam("position"); raw != "" {
		if pos, err = g.parsePosition(raw); err != nil {
			return err
		}
	}
	if g.search == nil {
		return newError(codeUnavailable, "search is not available on this gateway")
	}

	ctx := c.Request().Context()
	if !pos.IsZero() {
		if err := g.waitForPosition(ctx, pos, g.search.WaitFor); err != nil {
			if errors.Is(err, search.ErrNotCaughtUp) {
				return newError(codeNotCaughtUp, "the search index has not reached that position yet; try again")
			}
			return err
		}
	}
	results, err := g.search.Search(ctx, search.Query{
		UserID: currentUser(c), RoomID: roomID, Text: text, Limit: int(limit), Offset: int(offset),
	})
	switch {
	case errors.Is(err, search.ErrRoomNotFound):
		return errRoomNotFound()
	case errors.Is(err, search.ErrNotAMember):
		return newError(domain.CodeNotAMember, "only members can search this room")
	case err != nil:
		return err
	}
	if results == nil {
		results = []projections.Message{}
	}
	return c.JSON(http.StatusOK, searchResult{Results: results})
}
