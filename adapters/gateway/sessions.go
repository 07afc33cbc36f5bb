package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// CloseSessionEnded is the close code of a socket whose session ended: its token expired
// (reason "session_expired") or was logged out (reason "session_revoked"). The client needs a
// new token (log in) before it reconnects; reconnecting with the same token gets 401.
const CloseSessionEnded = 4001

// Close reasons that go with CloseSessionEnded.
const (
	reasonSessionExpired = "session_expired"
	reasonSessionRevoked = "session_revoked"
)

// frameReauth hands an open socket a newer token of the same user (from a refresh or a new
// login), so that it lives on past the end of the token it was opened with.
const frameReauth = "reauth"

type reauthFrame struct {
	Token *string `json:"token"`
}

// tokenHash names a session between gateways (and in the accounts store): the token itself
// never leaves the request that carried it.
func tokenHash(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

// EndSession is what a gateway does on hearing that a session ends at endsAt (now for a logout,
// the end of the grace for a refresh): it forgets the cached token and closes, or schedules the
// close of, the user's sockets opened (or last reauthenticated) with it.
func (g *Gateway) EndSession(user uuid.UUID, hash [sha256.Size]byte, endsAt time.Time) {
	g.acc.ForgetSession(hash)
	for _, c := range g.hub.socketsOf(user) {
		c.cutSession(hash, endsAt)
	}
}

// announceSessionEnd applies a session's end here at once, then tells the other gateways. A
// failed announcement is logged, not answered: Postgres already holds the change, which the
// other gateways' token caches read again within 30 s.
func (g *Gateway) announceSessionEnd(ctx context.Context, user uuid.UUID, hash [sha256.Size]byte, endsAt time.Time) {
	g.EndSession(user, hash, endsAt)
	if g.sessions == nil {
		return
	}
	if err := g.sessions.EndSession(ctx, user, hash, endsAt); err != nil {
		g.log.Warn("announce session end; other gateways learn it from Postgres later", "user_id", user, "err", err)
	}
}

// logout is POST /auth/logout: the caller's token stops working on every gateway, and the
// sockets opened with it are closed with CloseSessionEnded.
func (g *Gateway) logout(c echo.Context) error {
	token := bearerToken(c.Request())
	ctx := c.Request().Context()
	user, err := g.acc.RevokeSession(ctx, token)
	if errors.Is(err, readmodel.ErrNotFound) {
		// Revoked by a concurrent logout since authenticate saw it.
		return errUnauthorized("invalid or expired token")
	}
	if err != nil {
		return err
	}
	// Not the request's context: the sockets must be closed even if the client hangs up now.
	g.announceSessionEnd(context.WithoutCancel(ctx), user, tokenHash(token), time.Now())
	return c.NoContent(http.StatusNoContent)
}

// refresh is POST /auth/refresh: a new token for the caller, lasting SessionTTL; the old one
// keeps working for RefreshGrace (at most until it would have expired anyway), time
// for the client to send reauth on its open sockets.
func (g *Gateway) refresh(c echo.Context) error {
	token := bearerToken(c.Request())
	ctx := c.Request().Context()
	user, err := g.rm.UserByID(ctx, currentUser(c))
	if errors.Is(err, readmodel.ErrNotFound) {
		return errUnauthorized("the session's user does not exist")
	}
	if err != nil {
		return err
	}
	newToken, expires, oldEnds, err := g.acc.RefreshSession(ctx, token, g.cfg.SessionTTL, g.cfg.RefreshGrace)
	if errors.Is(err, readmodel.ErrNotFound) {
		return errUnauthorized("invalid or expired token")
	}
	if err != nil {
		return err
	}
	g.announceSessionEnd(context.WithoutCancel(ctx), user.ID, tokenHash(token), oldEnds)
	return c.JSON(http.StatusOK, loginResult{Token: newToken, ExpiresAt: expires.UTC(), User: user})
}

// setSession makes the socket's life that of a session: it closes with CloseSessionEnded at
// endsAt unless a reauth moves it on.
func (c *conn) setSession(hash [sha256.Size]byte, endsAt time.Time) {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	c.sessHash, c.sessEnds = hash, endsAt
	c.armLocked()
}

// armLocked (re)starts the timer for sessEnds, unless the socket is done. sessMu held.
func (c *conn) armLocked() {
	switch {
	case c.sessDone:
	case c.sessTimer == nil:
		c.sessTimer = time.AfterFunc(time.Until(c.sessEnds), c.sessionTimedOut)
	default:
		c.sessTimer.Reset(time.Until(c.sessEnds))
	}
}

// stopSessionTimer releases the timer of a socket that is done.
func (c *conn) stopSessionTimer() {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	c.sessDone = true
	if c.sessTimer != nil {
		c.sessTimer.Stop()
	}
}

// sessionTimedOut runs when the timer fires. A reauth may have moved the end since (and re-armed
// the timer), or the wall clock, which the end is read against, stepped back: then it waits on.
func (c *conn) sessionTimedOut() {
	c.sessMu.Lock()
	if time.Now().Before(c.sessEnds) {
		c.armLocked()
		c.sessMu.Unlock()
		return
	}
	c.sessMu.Unlock()
	c.endSession(reasonSessionExpired)
}

// sessionOver tells whether the socket's session has ended by now.
func (c *conn) sessionOver(now time.Time) bool {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	return !c.sessEnds.IsZero() && !now.Before(c.sessEnds)
}

// cutSession moves the end of the socket's session earlier, if the socket still runs on the
// session hash names; an end that is already past closes it now.
func (c *conn) cutSession(hash [sha256.Size]byte, endsAt time.Time) {
	c.sessMu.Lock()
	if c.sessHash != hash || !endsAt.Before(c.sessEnds) {
		c.sessMu.Unlock()
		return
	}
	c.sessEnds = endsAt
	past := !time.Now().Before(endsAt)
	if !past {
		c.armLocked()
	}
	c.sessMu.Unlock()
	if past {
		c.endSession(reasonSessionRevoked)
	}
}

// endSession closes the socket with CloseSessionEnded. Nothing is queued for it from now on
// (what was queued before is still written): the user's right to the frames ended with it.
func (c *conn) endSession(reason string) {
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
	c.closeWith(CloseSessionEnded, reason)
}

// reauth answers a reauth frame: the socket now lives as long as the token it was given,
// which must be a valid token of the same user.
func (c *conn) reauth(id json.RawMessage, data []byte) {
	var f reauthFrame
	if !c.decodeFields(data, id, &f) {
		return
	}
	if f.Token == nil || *f.Token == "" {
		c.enqueue(errorFrame(id, codeInvalidFrame, "token is required"))
		return
	}
	user, ends, err := c.g.acc.Session(c.ctx, *f.Token)
	if errors.Is(err, readmodel.ErrNotFound) {
		c.enqueue(errorFrame(id, codeUnauthorized, "invalid or expired token"))
		return
	}
	if err != nil {
		c.enqueue(c.errorFrameOf(id, err))
		return
	}
	if user != c.userID {
		c.enqueue(errorFrame(id, domain.CodeForbidden, "the token belongs to another user"))
		return
	}
	c.setSession(tokenHash(*f.Token), ends)
	c.enqueue(encodeFrame(ackFrame{Type: "ack", ID: id, Result: reauthResult{ExpiresAt: ends.UTC()}}))
}

type reauthResult struct {
	ExpiresAt time.Time `json:"expires_at"`
}

// recheckBatch bounds the sessions asked about in one query.
const recheckBatch = 1000

// RunSessionRecheck asks the accounts store every SessionRecheck whether the sessions of this
// gateway's sockets still stand, and closes (or shortens) the sockets of those that ended
// early: the safety net under the announcements of the session bus (Deps.SessionBus), which a gateway whose Redis
// connection was down missed. It returns nil when ctx ends.
func (g *Gateway) RunSessionRecheck(ctx context.Context) error {
	t := time.NewTicker(g.cfg.SessionRecheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := g.recheckSessions(ctx); err != nil && ctx.Err() == nil {
				g.log.Warn("recheck socket sessions; trying again later", "err", err)
			}
		}
	}
}

// recheckSessions is one round of RunSessionRecheck.
func (g *Gateway) recheckSessions(ctx context.Context) error {
	conns := g.hub.sockets()
	for len(conns) > 0 {
		n := min(len(conns), recheckBatch)
		batch := conns[:n]
		conns = conns[n:]
		hashes := make([][sha256.Size]byte, 0, n)
		for _, c := range batch {
			c.sessMu.Lock()
			hashes = append(hashes, c.sessHash)
			c.sessMu.Unlock()
		}
		ends, err := g.acc.SessionEnds(ctx, hashes)
		if err != nil {
			return err
		}
		now := time.Now()
		for i, c := range batch {
			end, ok := ends[hashes[i]]
			if !ok {
				end = now // revoked (an expired one is closed by its timer anyway)
			}
			c.cutSession(hashes[i], end)
		}
	}
	return nil
}
