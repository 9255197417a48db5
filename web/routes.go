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
	e.GET("/openapi.yaml", s.openAPIDocument)

	// Middleware is attached per route, not per group, so that a known path
	// with the wrong method is a 405 rather than a group's catch-all 404.
	// Reads of one task also accept that task's status token.
	key, reader := s.requireAPIKey, s.requireTaskReader
	e.POST("/v1/tasks", s.createTask, key, s.limitCreates)
	e.GET("/v1/tasks", s.listTasks, key)
	e.GET("/v1/tasks/:id", s.getTask, reader)
	e.DELETE("/v1/tasks/:id", s.cancelTask, key)
	e.GET("/v1/tasks/:id/status", s.taskStatus, reader)
	e.GET("/v1/tasks/:id/result", s.taskResult, reader)
	e.GET("/v1/tasks/:id/events", s.taskEvents, reader)
	e.POST("/v1/tasks/:id/redeliver", s.redeliverTask, key)
	e.GET("/v1/events", s.tenantEvents, key)

	e.POST("/admin/v1/tenants", s.createTenant, s.requireAdminToken)
	e.GET("/admin/v1/tenants/:tenant/limits", s.getTenantLimits, s.requireAdminToken)
	e.PUT("/admin/v1/tenants/:tenant/limits", s.putTenantLimits, s.requireAdminToken)

	// The dashboard: server-rendered pages behind a session cookie; every
	// state change is a POST with a CSRF token.
	sess, csrf := s.requireSession, s.requireCSRF
	e.GET("/static/:name", s.staticAsset)
	e.GET("/signin", s.signInPage)
	e.POST("/signin", s.signIn)
	e.GET("/signout", s.signOutPage, sess)
	e.POST("/signout", s.signOut, sess, csrf)
	e.GET("/", s.overview, sess)
	e.GET("/tasks", s.tasksPage, sess)
	e.GET("/tasks/new", s.newTaskPage, sess)
	e.POST("/tasks/new", s.createTaskFromForm, sess, csrf, s.limitCreates)
	e.GET("/tasks/:id", s.taskPage, sess)
	e.GET("/tasks/:id/row", s.taskRow, sess)
	e.POST("/tasks/:id/cancel", s.cancelFromDashboard, sess, csrf)
	e.POST("/tasks/:id/redeliver", s.redeliverFromDashboard, sess, csrf)
	e.GET("/dead-letters", s.deadLettersPage, sess)
	e.POST("/dead-letters/redeliver", s.redeliverDeadLetters, sess, csrf)
	e.GET("/settings", s.settingsPage, sess)
	e.POST("/settings/keys", s.createKeyFromDashboard, sess, csrf)
	e.POST("/settings/keys/:key/revoke", s.revokeKeyFromDashboard, sess, csrf)
	e.POST("/settings/secret/rotate", s.rotateSecretFromDashboard, sess, csrf)
	e.GET("/live", s.tenantEvents, sess) // live updates of the pages

	if devTools != nil {
		e.Any("/dev/*", echo.WrapHandler(devTools))
	}
}
