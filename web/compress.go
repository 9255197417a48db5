package web

import (
	"compress/gzip"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// gzipMinLength is the smallest body worth compressing: below about a
// kilobyte gzip's framing eats most of the gain.
const gzipMinLength = 1024

// compress gzips the responses of clients that accept it (API answers,
// pages, the API description and the reference), at the fastest level:
// JSON and HTML shrink about as well at it, for a fraction of the CPU.
// It leaves alone what must not wait in a compressor's buffer or compresses
// itself; see skipCompression.
func compress() echo.MiddlewareFunc {
	return middleware.GzipWithConfig(middleware.GzipConfig{
		Level:     gzip.BestSpeed,
		MinLength: gzipMinLength,
		Skipper:   skipCompression,
	})
}

// skipCompression says which responses go out as written: event streams
// (every event must reach the client when it is written, and an
// EventSource asks for them with Accept: text/event-stream), upgraded
// connections (WebSocket), /metrics (Prometheus' handler compresses
// itself) and the --dev helpers (they show what was sent, byte for byte).
func skipCompression(c echo.Context) bool {
	req := c.Request()
	if req.Header.Get(echo.HeaderUpgrade) != "" || strings.Contains(req.Header.Get(echo.HeaderAccept), "text/event-stream") {
		return true
	}
	switch p := c.Path(); {
	case strings.HasSuffix(p, "/events"), strings.HasSuffix(p, "/live"), strings.HasSuffix(p, "/ws"):
		return true
	case p == "/metrics", strings.HasPrefix(p, "/dev/"):
		return true
	}
	return false
}
