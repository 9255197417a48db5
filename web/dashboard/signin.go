package dashboard

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/tenant"
)

type signInData struct{ Next string }

// SignInPage handles GET /signin: the API key form, or a one-time sign-in
// link's ?token=.
func (d *Dashboard) SignInPage(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	if token := c.QueryParam("token"); token != "" {
		sess, err := d.tokens.ParseSignInLink(token)
		if err != nil || !d.useLink(sess.ID, sess.ExpiresAt) {
			return d.render(c, http.StatusUnauthorized, "signin", view{Title: "Sign in", Data: signInData{Next: next},
				Error: "This sign-in link has expired or has been used already. Sign in with an API key."})
		}
		if err := d.startSession(c, tenant.Principal{TenantID: sess.TenantID}); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, next)
	}
	return d.render(c, http.StatusOK, "signin", view{Title: "Sign in", Data: signInData{Next: next}})
}

// SignIn handles POST /signin with an API key.
func (d *Dashboard) SignIn(c echo.Context) error {
	next := safeNext(c.FormValue("next"))
	if !sameOrigin(c) {
		return d.render(c, http.StatusForbidden, "signin", view{Title: "Sign in", Data: signInData{Next: next},
			Error: "Sign in from this dashboard's own page."})
	}
	p, err := d.tenants.Authenticate(c.Request().Context(), strings.TrimSpace(c.FormValue("apiKey")))
	if err != nil {
		return d.render(c, http.StatusUnauthorized, "signin", view{Title: "Sign in", Data: signInData{Next: next},
			Error: "That API key is not valid, or it has been revoked."})
	}
	if err := d.startSession(c, p); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// SignOutPage handles GET /signout: a button, since signing out changes
// state and so must be a POST.
func (d *Dashboard) SignOutPage(c echo.Context) error {
	return d.render(c, http.StatusOK, "signout", view{Title: "Sign out"})
}

// SignOut handles POST /signout.
func (d *Dashboard) SignOut(c echo.Context) error {
	clearSession(c)
	return c.Redirect(http.StatusSeeOther, "/signin")
}

// sameOrigin refuses form posts from other sites: a browser sends Origin
// on every cross-site POST.
func sameOrigin(c echo.Context) bool {
	origin := c.Request().Header.Get("Origin")
	if origin == "" || origin == "null" {
		return origin == ""
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == c.Request().Host
}
