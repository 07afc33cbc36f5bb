package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/adapters/metrics"
	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

// Overview is what GET /admin/overview answers: this process's health (the checks /readyz
// makes) and its figures (those /metrics serves), as cmd/chorus reads them. The answer is shown
// as it is (JSON).
type Overview interface {
	Overview(ctx context.Context) (any, error)
}

// overview: GET /admin/overview: the health of every dependency as this gateway sees it, its
// sockets and the counters a console turns into rates (commands per second).
func (g *Gateway) overview(c echo.Context) error {
	if _, _, err := g.requireAdmin(c, "read the overview"); err != nil {
		return err
	}
	if g.overviews == nil {
		return newError(codeUnavailable, "this gateway has no overview")
	}
	v, err := g.overviews.Overview(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// countedSender counts the commands the gateway sends by their answer
// (chorus_commands_sent_total): in a deployment where the command processors run elsewhere it
// is the gateway's own measure of the commands it carries.
type countedSender struct {
	commands.Sender
	met *metrics.Metrics
}

func (s countedSender) Dispatch(ctx context.Context, cmd domain.Command) (commands.Reply, error) {
	r, err := s.Sender.Dispatch(ctx, cmd)
	if err == nil {
		s.met.Stage(metrics.StageAcknowledged, cmd.IssuedAt, time.Now())
	}
	switch {
	case err != nil:
		s.met.CommandSent(metrics.ResultFailed)
	case r.Accepted:
		s.met.CommandSent(metrics.ResultAccepted)
	default:
		s.met.CommandSent(metrics.ResultRejected)
	}
	return r, err
}
