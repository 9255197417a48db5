package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/tenant"
)

type signInData struct{ Next string }

// signInPage handles GET /signin: the API key form, or a one-time sign-in
// link's ?token=.
func (s *Server) signInPage(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	if token := c.QueryParam("token"); token != "" {
		sess, err := s.tokens.ParseSignInLink(token)
		if err != nil || !s.dash.useLink(sess.ID, sess.ExpiresAt) {
			return s.render(c, http.StatusUnauthorized, "signin", view{Title: "Sign in", Data: signInData{Next: next},
				Error: "This sign-in link has expired or has been used already. Sign in with an API key."})
		}
		if err := s.startSession(c, tenant.Principal{TenantID: sess.TenantID}); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, next)
	}
	return s.render(c, http.StatusOK, "signin", view{Title: "Sign in", Data: signInData{Next: next}})
}

// signIn handles POST /signin with an API key.
func (s *Server) signIn(c echo.Context) error {
	next := safeNext(c.FormValue("next"))
	if !sameOrigin(c) {
		return s.render(c, http.StatusForbidden, "signin", view{Title: "Sign in", Data: signInData{Next: next},
			Error: "Sign in from this dashboard's own page."})
	}
	p, err := s.tenants.Authenticate(c.Request().Context(), strings.TrimSpace(c.FormValue("apiKey")))
	if err != nil {
		return s.render(c, http.StatusUnauthorized, "signin", view{Title: "Sign in", Data: signInData{Next: next},
			Error: "That API key is not valid, or it has been revoked."})
	}
	if err := s.startSession(c, p); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// signOutPage handles GET /signout: a button, since signing out changes
// state and so must be a POST.
func (s *Server) signOutPage(c echo.Context) error {
	return s.render(c, http.StatusOK, "signout", view{Title: "Sign out"})
}

// signOut handles POST /signout.
func (s *Server) signOut(c echo.Context) error {
	s.clearSession(c)
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
