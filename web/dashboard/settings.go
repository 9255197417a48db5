package dashboard

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/web/api"

	"github.com/boomerang-dev/boomerang/tenant"
)

type settingsData struct {
	Tenant    *tenant.Tenant
	NewKey    string // shown once, right after it was created
	NewSecret string // shown once, right after rotation
	Retention time.Duration
	// Keep is the tenant's retention of finished tasks.
	Keep       keepData
	SessionKey string
	// SessionMaxAge is how long a session lasts at most, for people.
	SessionMaxAge string
	// Usage is this month's usage and quota (usage.go).
	Usage usageData
}

var overlaps = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

// SettingsPage handles GET /settings.
func (d *Dashboard) SettingsPage(c echo.Context) error {
	return d.renderSettings(c, http.StatusOK, settingsData{}, "", "")
}

func (d *Dashboard) renderSettings(c echo.Context, status int, data settingsData, flash, problemText string) error {
	p := api.Principal(c)
	t, err := d.tenants.Get(p.TenantID)
	if err != nil {
		return err
	}
	data.Tenant, data.Retention, data.SessionKey = t, d.retention, p.KeyID
	data.Keep = keepData{Days: int(d.bounds.Effective(t.Retention) / (24 * time.Hour)), Default: t.Retention == 0,
		MinDays: api.MinRetentionDays(d.bounds), MaxDays: int(d.bounds.Max / (24 * time.Hour))}
	data.SessionMaxAge = hoursText(d.tokens.SessionMaxAge())
	if data.Usage, err = d.usage(c.Request().Context(), p.TenantID); err != nil {
		return err
	}
	return d.render(c, status, "settings", view{Title: "Settings", Nav: "settings", Data: data, Flash: flash, Error: problemText})
}

// CreateKey handles POST /settings/keys: the new key is shown
// in this answer only.
func (d *Dashboard) CreateKey(c echo.Context) error {
	name := strings.TrimSpace(c.FormValue("name"))
	if name == "" || utf8.RuneCountInString(name) > 60 {
		return d.renderSettings(c, http.StatusBadRequest, settingsData{}, "", "Give the key a name of 1 to 60 characters.")
	}
	key, _, err := d.tenantAdmin.CreateKey(c.Request().Context(), api.Principal(c).TenantID, name)
	if err != nil {
		return err
	}
	return d.renderSettings(c, http.StatusOK, settingsData{NewKey: key}, "Key “"+name+"” created. Copy it now: it is not shown again.", "")
}

// RevokeKey handles POST /settings/keys/:key/revoke.
func (d *Dashboard) RevokeKey(c echo.Context) error {
	if err := d.tenantAdmin.RevokeKey(c.Request().Context(), api.Principal(c).TenantID, c.Param("key")); err != nil {
		return err
	}
	if c.Param("key") == api.Principal(c).KeyID {
		d.clearSession(c) // the session stood on that key
		return c.Redirect(http.StatusSeeOther, "/signin")
	}
	return d.renderSettings(c, http.StatusOK, settingsData{}, "Key revoked: it no longer works.", "")
}

// RotateSecret handles POST /settings/secret/rotate.
func (d *Dashboard) RotateSecret(c echo.Context) error {
	overlap, ok := overlaps[c.FormValue("overlap")]
	if !ok {
		return d.renderSettings(c, http.StatusBadRequest, settingsData{}, "", "Choose an overlap period.")
	}
	secret, err := d.tenantAdmin.RotateSecret(c.Request().Context(), api.Principal(c).TenantID, overlap)
	if err != nil {
		return err
	}
	return d.renderSettings(c, http.StatusOK, settingsData{NewSecret: secret.String()},
		"Signing secret rotated. Webhooks carry signatures of both secrets for "+c.FormValue("overlap")+"; copy the new one now.", "")
}

// keepData is the tenant's retention of finished tasks, in days, and the
// bounds it may choose within.
type keepData struct {
	Days             int
	Default          bool
	MinDays, MaxDays int
}

// SetRetention handles POST /settings/retention: how many days the
// tenant's finished tasks stay, within the server's bounds.
func (d *Dashboard) SetRetention(c echo.Context) error {
	days, err := strconv.Atoi(strings.TrimSpace(c.FormValue("days")))
	if err != nil {
		days = 0 // refused below, with the bounds
	}
	keep, err := api.CheckRetentionDays("days", days, d.bounds)
	if err != nil {
		return d.renderSettings(c, http.StatusBadRequest, settingsData{}, "", fmt.Sprintf(
			"Choose a whole number of days between %d and %d.", api.MinRetentionDays(d.bounds), int(d.bounds.Max/(24*time.Hour))))
	}
	if err := d.tenantAdmin.SetRetention(c.Request().Context(), api.Principal(c).TenantID, keep, d.bounds); err != nil {
		return err
	}
	return d.renderSettings(c, http.StatusOK, settingsData{}, fmt.Sprintf("Finished tasks now stay %d days.", days), "")
}

// EndAllSessions handles POST /settings/sessions/end: every dashboard
// session of the tenant ends on every node, this one included, whether it
// was opened with an API key or a sign-in link; so do sign-in links issued
// before it.
func (d *Dashboard) EndAllSessions(c echo.Context) error {
	if err := d.tenantAdmin.EndAllSessions(c.Request().Context(), api.Principal(c).TenantID); err != nil {
		return err
	}
	d.clearSession(c)
	return c.Redirect(http.StatusSeeOther, "/signin")
}

// hoursText says a duration in whole hours when it is some ("12 hours"),
// as Go does otherwise ("90m0s").
func hoursText(d time.Duration) string {
	switch {
	case d == time.Hour:
		return "1 hour"
	case d > 0 && d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + " hours"
	}
	return d.String()
}
