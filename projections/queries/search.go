package queries

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/search"
)

// Page sizes of the message search.
const (
	DefaultSearchLimit = search.DefaultLimit
	MaxSearchLimit     = search.MaxLimit
	MaxSearchOffset    = search.MaxOffset
	// MaxSearchTextRunes bounds a search's text.
	MaxSearchTextRunes = 200
)

// SearchMessages is the input of a message search.
type SearchMessages struct {
	// Text is what to find; spaces around it do not count.
	Text string
	// RoomID limits the search to one room; uuid.Nil searches all the viewer's rooms.
	RoomID        uuid.UUID
	Limit, Offset int
	// Position, when not zero, is one the search index must include before it is searched.
	Position domain.Position
}

// Check refuses a text that is empty or too long.
func (in SearchMessages) Check() error {
	text := strings.TrimSpace(in.Text)
	if n := utf8.RuneCountInString(text); n == 0 || n > MaxSearchTextRunes || !utf8.ValidString(text) {
		return errValidation("q must be 1 to %d characters", MaxSearchTextRunes)
	}
	return nil
}

// SearchResult is the messages a search found, best first.
type SearchResult struct {
	Results []projections.Message `json:"results"`
}

// SearchMessages finds the messages matching the text in the rooms the viewer may read (their
// rooms; only RoomID when given). RoomID is checked as history checks its room: unknown,
// deleted, or private to the viewer is room_not_found, public but not joined is not_a_member.
//
// Position waits for the search index to include it, not for the read model: the two are
// separate projections, and a search must see the command whose position it was given even
// when the read model is ahead of the index.
func (a *Application) SearchMessages(ctx context.Context, viewer uuid.UUID, in SearchMessages) (SearchResult, error) {
	if err := in.Check(); err != nil {
		return SearchResult{}, err
	}
	if a.search == nil {
		return SearchResult{}, newError(CodeUnavailable, "search is not available on this gateway")
	}
	if !in.Position.IsZero() {
		if err := a.wait(ctx, in.Position, a.search.WaitFor); err != nil {
			if errors.Is(err, search.ErrNotCaughtUp) {
				return SearchResult{}, newError(CodeNotCaughtUp, "the search index has not reached that position yet; try again")
			}
			return SearchResult{}, err
		}
	}
	results, err := a.search.Search(ctx, search.Query{
		UserID: viewer, RoomID: in.RoomID, Text: strings.TrimSpace(in.Text), Limit: in.Limit, Offset: in.Offset,
	})
	switch {
	case errors.Is(err, search.ErrRoomNotFound):
		return SearchResult{}, ErrRoomNotFound()
	case errors.Is(err, search.ErrNotAMember):
		return SearchResult{}, newError(domain.CodeNotAMember, "only members can search this room")
	case err != nil:
		return SearchResult{}, err
	}
	if results == nil {
		results = []projections.Message{}
	}
	return SearchResult{Results: results}, nil
}
