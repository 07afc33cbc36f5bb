package queries

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/projections"
)

// Proxies reads the proxy grants (readmodel.Store): ProxyGrantsOf lists the grants user gave
// or holds that have not ended at at.
type Proxies interface {
	ProxyGrantsOf(ctx context.Context, user uuid.UUID, at time.Time) ([]projections.ProxyGrant, error)
}

// ProxyList is the answer of GET /users/me/proxies: the grants the viewer gave (as principal)
// and those they hold (as delegate), in force or to come, by start.
type ProxyList struct {
	Given    []projections.ProxyGrant `json:"given"`
	Received []projections.ProxyGrant `json:"received"`
}

// Proxies lists the viewer's own grants, given and received. Nobody reads another's.
func (a *Application) Proxies(ctx context.Context, viewer uuid.UUID) (ProxyList, error) {
	if a.proxies == nil {
		return ProxyList{}, newError(CodeUnavailable, "proxy grants are not available on this gateway")
	}
	grants, err := a.proxies.ProxyGrantsOf(ctx, viewer, time.Now())
	if err != nil {
		return ProxyList{}, err
	}
	out := ProxyList{Given: []projections.ProxyGrant{}, Received: []projections.ProxyGrant{}}
	for _, g := range grants {
		if g.PrincipalID == viewer {
			out.Given = append(out.Given, g)
		} else {
			out.Received = append(out.Received, g)
		}
	}
	return out, nil
}
