package dashboard

import (
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/api"
	"github.com/boomerang-dev/boomerang/web/problem"
)

const (
	sessionCookie = "boomerang_session"
	sessionKey    = "session"
)

// session returns the signed-in session of the request, or nil.
func session(c echo.Context) *tenant.Session {
	sess, _ := c.Get(sessionKey).(*tenant.Session)
	return sess
}

// errNoSession is what RequireSession returns without a valid session: the
// pages (WriteError) answer it by sending the browser to sign in; the live
// event stream, which answers problems, with a 401, which an EventSource
// takes as final.
var errNoSession = problem.Unauthorized.New("Sign in to the dashboard first; the session is missing, expired or ended.")

// RequireSession lets signed-in users through: a valid session cookie whose
// API key (if it signed in with one) has not been revoked since. Others get
// errNoSession. A session nearing its end is renewed. The session's
// principal is the request's, for the handlers shared with the API.
func (d *Dashboard) RequireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		cookie, err := c.Cookie(sessionCookie)
		var sess tenant.Session
		if err == nil {
			sess, err = d.tokens.ParseSession(cookie.Value)
		}
		if err == nil && sess.KeyID != "" && !d.tenants.KeyActive(sess.TenantID, sess.KeyID) {
			err = tenant.ErrUnauthorized
		}
		if err != nil {
			clearSession(c)
			return errNoSession
		}
		if sess.ExpiresAt.Sub(d.now()) < tenant.SessionTTL/2 {
			if err := d.startSession(c, sess.Principal); err != nil {
				return err
			}
		} else {
			c.Set(sessionKey, &sess)
		}
		api.SetPrincipal(c, session(c).Principal)
		return next(c)
	}
}

// toSignIn sends the browser to sign in, and back to the page it asked for.
func toSignIn(c echo.Context) {
	if c.Request().Method != http.MethodGet {
		_ = c.Redirect(http.StatusSeeOther, "/signin")
		return
	}
	_ = c.Redirect(http.StatusSeeOther, "/signin?next="+url.QueryEscape(c.Request().URL.RequestURI()))
}

// RequireCSRF refuses a state change whose form lacks the session's token.
func (d *Dashboard) RequireCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !d.tokens.CheckCSRF(session(c).ID, c.FormValue("csrf")) {
			return d.render(c, http.StatusForbidden, "error", view{Title: "Form expired",
				Error: "This form has expired or did not come from this dashboard. Go back, reload the page and try again."})
		}
		return next(c)
	}
}

func (d *Dashboard) startSession(c echo.Context, p tenant.Principal) error {
	token, sess, err := d.tokens.IssueSession(p)
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Request().TLS != nil,
	})
	c.Set(sessionKey, &sess)
	return nil
}

func clearSession(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.Request().TLS != nil})
}

// useLink marks a sign-in link as used and reports whether it was unused.
func (d *Dashboard) useLink(id string, expires time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	for k, exp := range d.usedLinks {
		if now.After(exp) {
			delete(d.usedLinks, k)
		}
	}
	if _, used := d.usedLinks[id]; used {
		return false
	}
	d.usedLinks[id] = expires
	return true
}

// safeNext keeps a post-sign-in redirect on this site: a path that starts
// with a single "/", has no control character or backslash (browsers drop
// tabs and newlines and read a backslash as "/": "/\t/evil.example" would
// become "//evil.example") and no scheme or host. Anything else gives "/".
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || !utf8.ValidString(next) ||
		strings.ContainsFunc(next, func(r rune) bool { return r == '\\' || unicode.IsControl(r) }) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}
