package main

import (
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/adapters/metrics"
)

// serveMetrics serves GET /metrics, in the Prometheus text format, on the process's HTTP
// listener (CHORUS_HTTP_ADDR) whatever its roles: the registry m is this process's own.
func serveMetrics(e *echo.Echo, m *metrics.Metrics) {
	e.GET("/metrics", echo.WrapHandler(m.Handler()))
}
