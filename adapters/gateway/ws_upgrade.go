package gateway

import (
	"github.com/labstack/echo/v4"
)

// serveWS is GET /ws. Everything that can refuse the socket (token, capacity) is checked
// before the upgrade, so the client gets an HTTP status rather than a socket closed at once.
func (g *Gateway) serveWS(c echo.Context) error {
	r := c.Request()
	// Before the token: a page of another site learns nothing about it.
	if !g.originAllowed(r) {
		return errOriginNotAllowed(r.Header.Get("Origin"))
	}
	token := bearerToken(r)
	if token == "" {
		// Browsers cannot set headers on a WebSocket, so the token may come in the query.
		token = r.URL.Query().Get("token")
	}
	userID, sessionEnds, err := g.sessionUser(r, token)
	if err != nil {
		return err
	}
	// Warms the name cache for this user's commands, and refuses a session whose user is gone.
	if _, err := g.actorName(r.Context(), userID); err != nil {
		return err
	}

	if !g.hub.reserve() {
		return newError(codeUnavailable, "the gateway is shutting down; reconnect to another")
	}
	var cn *conn
	started := false // from here on, run releases the reservation
	defer func() {
		if !started {
			if cn != nil {
				cn.stopSessionTimer()
				g.hub.remove(cn)
			}
			g.conns.Add(-1)
			g.hub.wg.Done()
		}
	}()
	if g.conns.Add(1) > int64(g.cfg.MaxConnections) {
		return newError(codeUnavailable, "this gateway has no room for more connections; try again later")
	}

	// The socket is registered and subscribed before the upgrade answers: once the client sees
	// the upgrade succeed, every push of its rooms reaches it (frames wait in its queue until
	// the writer starts). Registering under the user before reading the rooms, and waiting for
	// the read model to include the user's membership changes the push stream brought before,
	// means no join or leave slips between the two (membership.go).
	cn = newConn(g, userID)
	cn.setSession(tokenHash(token), sessionEnds)
	wait, ok, err := g.registerSocket(r.Context(), cn)
	if err != nil {
		return err
	}
	if !ok {
		return newError(codeUnavailable, "the gateway is shutting down; reconnect to another")
	}
	// A logout or refresh announced since the token was checked did not find this socket in
	// the hub; it dropped the token from the cache before looking, so asking again now sees it.
	_, sessionEnds, err = g.sessionUser(r, token)
	if err != nil {
		return err
	}
	cn.cutSession(tokenHash(token), sessionEnds)
	if err := g.loadRooms(r.Context(), cn, wait); err != nil {
		return err
	}

	bw := &batchingWriter{ResponseWriter: c.Response()}
	ws, err := g.upgrader.Upgrade(bw, r, nil)
	if err != nil {
		// The upgrader has answered the client already (see handshakeError).
		g.log.Debug("websocket upgrade failed", "err", err)
		return nil
	}
	started = true
	cn.batch = bw.conn
	cn.attach(ws)
	go cn.run()
	return nil
}
