package dashboard

import (
	"cmp"
	"errors"
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
		err := d.useSignInLink(c, token)
		if errors.Is(err, tenant.ErrUnauthorized) || errors.Is(err, tenant.ErrLinkUsed) {
			return d.render(c, http.StatusUnauthorized, "signin", view{Title: "Sign in", Data: signInData{Next: next},
				Error: "This sign-in link has expired or has been used already. Sign in with an API key."})
		}
		if err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, next)
	}
	return d.render(c, http.StatusOK, "signin", view{Title: "Sign in", Data: signInData{Next: next}})
}

// useSignInLink signs in with a one-time link: valid, issued after the
// tenant last ended its sessions, and used for the first time on any node.
// It returns ErrUnauthorized or ErrLinkUsed when it may not.
func (d *Dashboard) useSignInLink(c echo.Context, token string) error {
	link, err := d.tokens.ParseSignInLink(token)
	if err != nil {
		return tenant.ErrUnauthorized
	}
	if active, err := d.tenants.SessionActive(c.Request().Context(), link); err != nil || !active {
		return cmp.Or(err, tenant.ErrUnauthorized)
	}
	if err := d.tenantAdmin.UseSignInLink(c.Request().Context(), link); err != nil {
		return err
	}
	return d.startSession(c, tenant.Principal{TenantID: link.TenantID})
}

// SignIn handles POST /signin with an API key.
func (d *Dashboard) SignIn(c echo.Context) error {
	next := safeNext(c.FormValue("next"))
	if !d.sameOrigin(c) {
		return d.render(c, http.StatusForbidden, "signin", view{Title: "Sign in", Data: signInData{Next: next},
			Error: "Sign in from this dashboard's own page."})
	}
	p, err := d.tenants.Authenticate(c.Request().Context(), strings.TrimSpace(c.FormValue("apiKey")))
	if errors.Is(err, tenant.ErrViewBehind) {
		return d.render(c, http.StatusServiceUnavailable, "signin", view{Title: "Sign in", Data: signInData{Next: next},
			Error: "This server could not check the key just now (it is catching up with the cluster). Try again in a moment."})
	}
	if err != nil {
		return d.render(c, http.StatusUnauthorized, "signin", view{Title: "Sign in", Data: signInData{Next: next},
			Error: "That API key is not valid, or it has been revoked."})
	}
	if !p.HasAllScopes() {
		// The dashboard does everything: a key limited to some scopes
		// (for a program) must not reach the rest through it.
		return d.render(c, http.StatusForbidden, "signin", view{Title: "Sign in", Data: signInData{Next: next},
			Error: "That API key has only some scopes; sign in with a key that has every scope."})
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

// SignOut handles POST /signout: the session ends on every node, whichever
// of its tokens (renewed or not) is presented.
func (d *Dashboard) SignOut(c echo.Context) error {
	sess := session(c)
	d.clearSession(c)
	if err := d.tenantAdmin.EndSession(c.Request().Context(), sess.TenantID, sess.ID, sess.EndsAt); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/signin")
}

// sameOrigin refuses form posts from other sites: a browser sends Origin
// on every cross-site POST. The request's own host and the public URL's
// origin are this site.
func (d *Dashboard) sameOrigin(c echo.Context) bool {
	origin := c.Request().Header.Get("Origin")
	if origin == "" || origin == "null" {
		return origin == ""
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if pub := d.publicURL; pub != nil && u.Scheme == pub.Scheme && u.Host == pub.Host {
		return true
	}
	return u.Host == c.Request().Host
}
