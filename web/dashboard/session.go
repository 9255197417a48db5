package dashboard

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/api"
	"github.com/boomerang-dev/boomerang/web/problem"
)

const (
	sessionCookie = "boomerang_session"
	sessionKey    = "session"
	// csrfHeader carries the CSRF token of a script's POST; forms send
	// it as the field csrf.
	csrfHeader = "X-CSRF-Token"
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

// RequireSession lets signed-in users through: a valid session cookie of a
// session that has not ended (signed out, ended with all the tenant's
// sessions, or past its maximum age) and whose API key, if it signed in
// with one, has not been revoked. Others get errNoSession. A session
// nearing its token's expiry gets a fresh token, up to its maximum age.
// The session's principal is the request's, for the handlers shared with
// the API.
func (d *Dashboard) RequireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, err := d.currentSession(c)
		if errors.Is(err, tenant.ErrViewBehind) {
			return err // a 503: the session may well be valid, keep its cookie
		}
		if err != nil {
			d.clearSession(c)
			return errNoSession
		}
		if sess, err = d.renewDue(c, sess, d.setSessionCookie); err != nil {
			return err
		}
		c.Set(sessionKey, &sess)
		api.SetPrincipal(c, sess.Principal)
		return next(c)
	}
}

// renewDue gives a session nearing its token's expiry a fresh token, in
// the cookie set sets, up to the session's maximum age.
func (d *Dashboard) renewDue(c echo.Context, sess tenant.Session, set func(echo.Context, string, tenant.Session)) (tenant.Session, error) {
	if !d.tokens.RenewDue(sess) {
		return sess, nil
	}
	token, renewed, err := d.tokens.RenewSession(sess)
	if err != nil {
		return sess, err
	}
	set(c, token, renewed)
	return renewed, nil
}

// EndWithSession ends a long-lived response of a session, such as the live
// event stream, when the session ends: signed out, ended with all the
// tenant's sessions or by its key's revocation, on any node, or when the
// token it was opened with expires (the page then opens a new one, which
// renews the session or sends to sign in).
func (d *Dashboard) EndWithSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithCancel(c.Request().Context())
		defer cancel()
		go d.watchSession(ctx, cancel, *session(c))
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

// watchSession calls cancel when sess ends, unless ctx ends first.
func (d *Dashboard) watchSession(ctx context.Context, cancel func(), sess tenant.Session) {
	expiry := time.NewTimer(sess.ExpiresAt.Sub(d.now()))
	defer expiry.Stop()
	for {
		changed := d.tenants.SessionsChanged() // before the check: no change is missed
		// A view that cannot catch up tells nothing: the session goes on
		// until a change or its expiry says otherwise.
		if active, err := d.tenants.SessionActive(ctx, sess); err == nil && !active {
			cancel()
			return
		}
		select {
		case <-changed:
		case <-expiry.C:
			cancel()
			return
		case <-ctx.Done():
			return
		}
	}
}

// currentSession returns the request's session, or ErrUnauthorized; or
// ErrViewBehind when this node cannot tell yet.
func (d *Dashboard) currentSession(c echo.Context) (tenant.Session, error) {
	cookie, err := c.Cookie(sessionCookie)
	if err != nil {
		return tenant.Session{}, tenant.ErrUnauthorized
	}
	sess, err := d.tokens.ParseSession(cookie.Value)
	if err != nil {
		return tenant.Session{}, tenant.ErrUnauthorized
	}
	if active, err := d.tenants.SessionActive(c.Request().Context(), sess); err != nil || !active {
		return tenant.Session{}, cmp.Or(err, tenant.ErrUnauthorized)
	}
	return sess, nil
}

// signInURL is the sign-in page that returns to requestURI, if that is a
// path of this site.
func signInURL(requestURI string) string {
	next := safeNext(requestURI)
	if next == "/" {
		return "/signin"
	}
	return "/signin?next=" + url.QueryEscape(next)
}

// toSignIn sends the browser to sign in, and back to the page it asked for
// when that is a path of this site.
func toSignIn(c echo.Context) {
	if c.Request().Method != http.MethodGet {
		_ = c.Redirect(http.StatusSeeOther, "/signin")
		return
	}
	_ = c.Redirect(http.StatusSeeOther, signInURL(c.Request().RequestURI))
}

// RequireCSRF refuses a state change that lacks the session's CSRF token
// in its form body or in the X-CSRF-Token header. The query string does not
// count: a token there leaks through logs, history and Referer.
func (d *Dashboard) RequireCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token := c.Request().Header.Get(csrfHeader)
		if token == "" {
			token = c.Request().PostFormValue("csrf")
		}
		if !d.tokens.CheckCSRF(session(c).ID, token) {
			return d.render(c, http.StatusForbidden, "error", view{Title: "Form expired",
				Error: "This form has expired or did not come from this dashboard. Go back, reload the page and try again."})
		}
		return next(c)
	}
}

// startSession signs p in: a new session, in a new cookie.
func (d *Dashboard) startSession(c echo.Context, p tenant.Principal) error {
	token, sess, err := d.tokens.IssueSession(p)
	if err != nil {
		return err
	}
	d.setSessionCookie(c, token, sess)
	c.Set(sessionKey, &sess)
	return nil
}

func (d *Dashboard) setSessionCookie(c echo.Context, token string, sess tenant.Session) {
	c.SetCookie(&http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: d.secureCookies(c),
	})
}

func (d *Dashboard) clearSession(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: d.secureCookies(c)})
}

// secureCookies reports whether the session cookie is Secure: when the
// node's public URL is https, or the request came over TLS.
func (d *Dashboard) secureCookies(c echo.Context) bool {
	return d.secure || c.Request().TLS != nil
}

// maxNext bounds a post-sign-in path; a longer one gives "/".
const maxNext = 2048

// maxDecodes is how many layers of percent-encoding a post-sign-in path
// may carry; one with more gives "/".
const maxDecodes = 4

// safeNext keeps a post-sign-in redirect on this site: it returns next when
// next is a path of this site however it is read, and "/" otherwise. Next
// must be made of URI characters only (no space, control, backslash or
// non-ASCII character: browsers drop tabs and newlines and read "\" as
// "/", so "/\t/evil.example" would become "//evil.example"), and its path,
// as it stands and after each percent-decoding, must start with one "/",
// have no empty, "." or ".." segment (dot segments could make "//"), and
// decode to URI characters only ("/%2F/evil.example", "/%5Cevil" and their
// double encodings give "/"). Its query and fragment cannot change where
// the browser goes.
func safeNext(next string) string {
	if len(next) > maxNext || !onlyBytes(next, uriByte) {
		return "/"
	}
	p, _, _ := strings.Cut(next, "#")
	p, _, _ = strings.Cut(p, "?")
	for range maxDecodes {
		if !plainPath(p) {
			return "/"
		}
		decoded, err := url.PathUnescape(p)
		if err != nil {
			return "/"
		}
		if decoded == p {
			return next
		}
		p = decoded
	}
	return "/"
}

// plainPath reports whether p is an absolute path of pchar segments, none
// of them empty (but the last), "." or "..".
func plainPath(p string) bool {
	if !strings.HasPrefix(p, "/") || !onlyBytes(p, pathByte) {
		return false
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		if (s == "" && i < len(segs)-1) || s == "." || s == ".." {
			return false
		}
	}
	return true
}

func onlyBytes(s string, ok func(byte) bool) bool {
	for i := range len(s) {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// pathByte reports whether b may stand in a path: RFC 3986's pchar
// (unreserved, sub-delims, ":" and "@"), "/" and "%".
func pathByte(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("-._~!$&'()*+,;=:@/%", b) >= 0
}

// uriByte reports whether b may stand in a relative URI: a path byte, "?"
// or "#".
func uriByte(b byte) bool { return pathByte(b) || b == '?' || b == '#' }
