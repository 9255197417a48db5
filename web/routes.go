package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// routes registers every route of the server, in one place.
func (s *Server) routes(devTools http.Handler) {
	e := s.echo
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metricsHandler())

	v1 := e.Group("/v1", s.requireAPIKey)
	v1.POST("/tasks", s.createTask)
	v1.GET("/tasks", s.listTasks)
	v1.GET("/tasks/:id", s.getTask)
	v1.DELETE("/tasks/:id", s.cancelTask)
	v1.GET("/tasks/:id/status", s.taskStatus)
	v1.GET("/tasks/:id/result", s.taskResult)
	v1.POST("/tasks/:id/redeliver", s.redeliverTask)

	admin := e.Group("/admin/v1", s.requireAdminToken)
	admin.POST("/tenants", s.createTenant)

	if devTools != nil {
		e.Any("/dev/*", echo.WrapHandler(devTools))
	}
}
