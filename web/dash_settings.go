package web

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/tenant"
)

type settingsData struct {
	Tenant     *tenant.Tenant
	NewKey     string // shown once, right after it was created
	NewSecret  string // shown once, right after rotation
	Retention  time.Duration
	SessionKey string
}

var overlaps = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

// settingsPage handles GET /settings.
func (s *Server) settingsPage(c echo.Context) error {
	return s.renderSettings(c, http.StatusOK, settingsData{}, "", "")
}

func (s *Server) renderSettings(c echo.Context, status int, data settingsData, flash, problemText string) error {
	p := principal(c)
	t, err := s.tenants.Get(p.TenantID)
	if err != nil {
		return err
	}
	data.Tenant, data.Retention, data.SessionKey = t, s.retention, p.KeyID
	return s.render(c, status, "settings", view{Title: "Settings", Nav: "settings", Data: data, Flash: flash, Error: problemText})
}

// createKeyFromDashboard handles POST /settings/keys: the new key is shown
// in this answer only.
func (s *Server) createKeyFromDashboard(c echo.Context) error {
	name := strings.TrimSpace(c.FormValue("name"))
	if name == "" || utf8.RuneCountInString(name) > 60 {
		return s.renderSettings(c, http.StatusBadRequest, settingsData{}, "", "Give the key a name of 1 to 60 characters.")
	}
	key, _, err := s.tenantAdmin.CreateKey(c.Request().Context(), principal(c).TenantID, name)
	if err != nil {
		return err
	}
	return s.renderSettings(c, http.StatusOK, settingsData{NewKey: key}, "Key “"+name+"” created. Copy it now: it is not shown again.", "")
}

// revokeKeyFromDashboard handles POST /settings/keys/:key/revoke.
func (s *Server) revokeKeyFromDashboard(c echo.Context) error {
	if err := s.tenantAdmin.RevokeKey(c.Request().Context(), principal(c).TenantID, c.Param("key")); err != nil {
		return err
	}
	if c.Param("key") == principal(c).KeyID {
		s.clearSession(c) // the session stood on that key
		return c.Redirect(http.StatusSeeOther, "/signin")
	}
	return s.renderSettings(c, http.StatusOK, settingsData{}, "Key revoked: it no longer works.", "")
}

// rotateSecretFromDashboard handles POST /settings/secret/rotate.
func (s *Server) rotateSecretFromDashboard(c echo.Context) error {
	overlap, ok := overlaps[c.FormValue("overlap")]
	if !ok {
		return s.renderSettings(c, http.StatusBadRequest, settingsData{}, "", "Choose an overlap period.")
	}
	secret, err := s.tenantAdmin.RotateSecret(c.Request().Context(), principal(c).TenantID, overlap)
	if err != nil {
		return err
	}
	return s.renderSettings(c, http.StatusOK, settingsData{NewSecret: secret.String()},
		"Signing secret rotated. Webhooks carry signatures of both secrets for "+c.FormValue("overlap")+"; copy the new one now.", "")
}
