package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/tenant"
)

// routes registers every route of the server, in one place. Each part
// renders its own errors: the API and the core answer problems
// (application/problem+json); the dashboard's pages answer pages to
// browsers. Middleware is attached per route, not per group, so that a
// known path with the wrong method is a 405 rather than a group's
// catch-all 404.
func (s *Server) routes(devTools http.Handler) {
	core := s.part(s.problems.WriteError)
	core.GET("/healthz", s.healthz)
	core.GET("/readyz", s.readyz)
	core.GET("/metrics", s.metricsHandler())
	core.GET("/openapi.yaml", s.openAPIDocument)
	core.GET("/docs", s.apiReference)
	core.GET("/docs/:asset", s.referenceAsset)

	s.apiRoutes()
	s.dashboardRoutes(core)

	if devTools != nil {
		core.Any("/dev/*", echo.WrapHandler(devTools))
	}
}

// apiRoutes registers the API's routes (/v1, /admin/v1). Reads of one task
// also accept that task's status token.
func (s *Server) apiRoutes() {
	a := s.api
	v1 := s.part(a.WriteError)
	// Each route of an API key names the scope the key needs
	// (tenant.Scope); a status token passes the read scope on its task.
	key, reader, admin := a.RequireAPIKey, a.RequireTaskReader, a.RequireAdminToken
	read, write := a.RequireScope(tenant.ScopeTasksRead), a.RequireScope(tenant.ScopeTasksWrite)
	hooks, keys, secrets := a.RequireScope(tenant.ScopeWebhooksWrite), a.RequireScope(tenant.ScopeKeysAdmin), a.RequireScope(tenant.ScopeSecretsAdmin)
	v1.POST("/v1/tasks", a.CreateTask, key, write, a.LimitCreates, a.EnforceQuota)
	v1.GET("/v1/tasks", a.ListTasks, key, read)
	v1.GET("/v1/tasks/:id", a.GetTask, reader, read)
	v1.DELETE("/v1/tasks/:id", a.CancelTask, key, write)
	v1.GET("/v1/tasks/:id/status", a.TaskStatus, reader, read)
	v1.GET("/v1/tasks/:id/result", a.TaskResult, reader, read)
	v1.GET("/v1/tasks/:id/events", a.TaskEvents, reader, read)
	v1.GET("/v1/tasks/:id/ws", a.TaskWebSocket, reader, read)
	v1.POST("/v1/tasks/:id/redeliver", a.RedeliverTask, key, hooks)
	v1.POST("/v1/tasks/:id/replay", a.ReplayTask, key, write, a.LimitCreates, a.EnforceQuota)
	v1.POST("/v1/webhooks/redeliver", a.RedeliverWebhooks, key, hooks)
	v1.GET("/v1/events", a.TenantEvents, key, read)
	v1.GET("/v1/ws", a.TenantWebSocket, key, read)
	v1.POST("/v1/schedules", a.CreateSchedule, key, write, a.LimitCreates)
	v1.GET("/v1/schedules", a.ListSchedules, key, read)
	v1.GET("/v1/schedules/:id", a.GetSchedule, key, read)
	v1.PATCH("/v1/schedules/:id", a.UpdateSchedule, key, write)
	v1.DELETE("/v1/schedules/:id", a.DeleteSchedule, key, write)
	v1.POST("/v1/schedules/:id/pause", a.PauseSchedule, key, write)
	v1.POST("/v1/schedules/:id/resume", a.ResumeSchedule, key, write)
	v1.GET("/v1/flow-control/:key", a.GetFlowControl, key, read)
	v1.POST("/v1/flow-control/:key/pause", a.PauseFlowControl, key, write)
	v1.POST("/v1/flow-control/:key/resume", a.ResumeFlowControl, key, write)
	v1.GET("/v1/ordering-keys/:key", a.GetOrderingKey, key, read)
	v1.POST("/v1/ordering-keys/:key/pause", a.PauseOrderingKey, key, write)
	v1.POST("/v1/ordering-keys/:key/resume", a.ResumeOrderingKey, key, write)
	v1.GET("/v1/schedules/:id/tasks", a.ScheduleTasks, key, read)
	v1.GET("/v1/keys", a.ListKeys, key, keys)
	v1.POST("/v1/keys", a.CreateKey, key, keys)
	v1.DELETE("/v1/keys/:key", a.RevokeKey, key, keys)
	v1.POST("/v1/signing-secrets/rotate", a.RotateSigningSecret, key, secrets)
	v1.POST("/admin/v1/tenants", a.CreateTenant, admin)
	v1.GET("/admin/v1/tenants/:tenant/limits", a.GetTenantLimits, admin)
	v1.PUT("/admin/v1/tenants/:tenant/limits", a.PutTenantLimits, admin)
	v1.GET("/admin/v1/tenants/:tenant/retention", a.GetTenantRetention, admin)
	v1.PUT("/admin/v1/tenants/:tenant/retention", a.PutTenantRetention, admin)
	v1.GET("/v1/usage", a.TenantUsage, key, read)
	v1.GET("/admin/v1/tenants", a.ListTenants, admin)
	v1.GET("/admin/v1/tenants/:tenant", a.GetTenant, admin)
	v1.DELETE("/admin/v1/tenants/:tenant", a.DeleteTenant, admin)
	v1.GET("/admin/v1/tenants/:tenant/usage", a.GetTenantUsage, admin)
	v1.GET("/admin/v1/tenants/:tenant/quota", a.GetTenantQuota, admin)
	v1.PUT("/admin/v1/tenants/:tenant/quota", a.PutTenantQuota, admin)
	v1.POST("/admin/v1/tenants/:tenant/suspend", a.SuspendTenant, admin)
	v1.POST("/admin/v1/tenants/:tenant/resume", a.ResumeTenant, admin)
	v1.NotFound("/v1/*")
	v1.NotFound("/admin/*")

}

// dashboardRoutes registers the dashboard's pages; its assets and live
// updates go on core, which answers problems.
func (s *Server) dashboardRoutes(core part) {
	a := s.api
	// The dashboard: server-rendered pages behind a session cookie; every
	// state change is a POST with a CSRF token. Its assets and its live
	// updates (the API's tenant event stream, for the signed-in tenant)
	// answer problems, as the API does.
	d := s.dash
	pages := s.part(d.WriteError)
	sess, csrf := d.RequireSession, d.RequireCSRF
	core.GET("/static/:name", d.StaticAsset)
	core.GET("/live", a.TenantEvents, sess, d.EndWithSession)
	pages.GET("/signin", d.SignInPage)
	pages.POST("/signin", d.SignIn)
	pages.GET("/signout", d.SignOutPage, sess)
	pages.POST("/signout", d.SignOut, sess, csrf)
	pages.GET("/", d.Overview, sess)
	pages.GET("/tasks", d.TasksPage, sess)
	pages.GET("/tasks/new", d.NewTaskPage, sess)
	pages.POST("/tasks/new", d.CreateTask, sess, csrf, a.LimitCreates, a.EnforceQuota)
	pages.GET("/tasks/:id", d.TaskPage, sess)
	pages.GET("/tasks/:id/row", d.TaskRow, sess)
	pages.POST("/tasks/:id/cancel", d.CancelTask, sess, csrf)
	pages.POST("/tasks/:id/redeliver", d.RedeliverTask, sess, csrf)
	pages.POST("/tasks/:id/replay", d.ReplayTask, sess, csrf, a.LimitCreates, a.EnforceQuota)
	pages.GET("/schedules", d.SchedulesPage, sess)
	pages.GET("/schedules/new", d.NewSchedulePage, sess)
	pages.POST("/schedules/new", d.CreateSchedule, sess, csrf, a.LimitCreates)
	pages.GET("/schedules/:id", d.SchedulePage, sess)
	pages.POST("/schedules/:id/pause", d.PauseSchedule, sess, csrf)
	pages.POST("/schedules/:id/resume", d.ResumeSchedule, sess, csrf)
	pages.POST("/schedules/:id/delete", d.DeleteSchedule, sess, csrf)
	pages.GET("/dead-letters", d.DeadLettersPage, sess)
	pages.POST("/dead-letters/redeliver", d.RedeliverDeadLetters, sess, csrf)
	for _, k := range []struct{ path, kind string }{{"/flow-control/:key", broker.KeyFlowControl}, {"/ordering-keys/:key", broker.KeyOrdering}} {
		pages.GET(k.path, d.KeyPage(k.kind), sess)
		pages.POST(k.path+"/pause", d.SetKeyPaused(k.kind, true), sess, csrf)
		pages.POST(k.path+"/resume", d.SetKeyPaused(k.kind, false), sess, csrf)
	}
	pages.GET("/settings", d.SettingsPage, sess)
	pages.POST("/settings/keys", d.CreateKey, sess, csrf)
	pages.POST("/settings/keys/:key/revoke", d.RevokeKey, sess, csrf)
	pages.POST("/settings/secret/rotate", d.RotateSecret, sess, csrf)
	pages.POST("/settings/sessions/end", d.EndAllSessions, sess, csrf)
	pages.POST("/settings/retention", d.SetRetention, sess, csrf)
	if d.HasInbox() { // serve --dev: what /dev/inbox received, live
		pages.GET("/inbox", d.InboxPage, sess)
		pages.GET("/inbox/:seq", d.InboxItem, sess)
		core.GET("/inbox/live", d.InboxLive, sess, d.EndWithSession)
	}
	if d.OperatorEnabled() { // the operator's pages, with --admin-token
		op, opCSRF := d.RequireOperator, d.RequireOperatorCSRF
		pages.GET("/operator/signin", d.OperatorSignInPage)
		pages.POST("/operator/signin", d.OperatorSignIn)
		pages.POST("/operator/signout", d.OperatorSignOut, op, opCSRF)
		pages.GET("/operator", d.OperatorHome, op)
		pages.GET("/operator/tenants", d.OperatorTenants, op)
		pages.GET("/operator/tenants/:tenant", d.OperatorTenant, op)
		pages.POST("/operator/tenants/:tenant/quota", d.OperatorSetQuota, op, opCSRF)
		pages.POST("/operator/tenants/:tenant/suspend", d.OperatorSuspend, op, opCSRF)
		pages.POST("/operator/tenants/:tenant/resume", d.OperatorResume, op, opCSRF)
		pages.POST("/operator/tenants/:tenant/delete", d.OperatorDelete, op, opCSRF)
	}
	pages.NotFound("/*")

}
