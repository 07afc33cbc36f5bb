package gateway

import (
	"context"
	"encoding/json"

	"github.com/chorus-chat/chorus/commands"
)

// Frames of the proxy grants (http_proxies.go has their HTTP routes).
const (
	frameGrantProxy  = "grant_proxy"
	frameRevokeProxy = "revoke_proxy"
)

type proxyFrame struct {
	grantProxyRequest
	// PrincipalID of revoke_proxy: the grant's principal, absent for one's own grants.
	PrincipalID *string `json:"principal_id"`
	GrantID     *string `json:"grant_id"`
	commandKeyField
}

// handleProxyFrame answers grant_proxy and revoke_proxy.
func (c *conn) handleProxyFrame(typ string, id json.RawMessage, data []byte) {
	var f proxyFrame
	if !c.decodeFields(data, id, &f) {
		return
	}
	if typ == frameGrantProxy {
		in := f.input(f.ClientCommandID)
		if c.checked(id, in.Check()) {
			c.startCommand(id, func(ctx context.Context) (commands.Action, error) { return c.g.app.GrantProxy(ctx, c.userID, in) })
		}
		return
	}
	grant, ok := c.requiredID(id, "grant_id", f.GrantID)
	if !ok {
		return
	}
	principal := c.userID
	if f.PrincipalID != nil {
		p, ok := c.requiredID(id, "principal_id", f.PrincipalID)
		if !ok {
			return
		}
		principal = p
	}
	c.startCommand(id, func(ctx context.Context) (commands.Action, error) {
		return c.g.app.RevokeProxy(ctx, c.userID, principal, grant, f.ClientCommandID)
	})
}
