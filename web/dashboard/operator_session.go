package dashboard

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// The operator's sign-in: the admin token starts an operator session, a
// token of its own audience (tenant.AudienceOperator) in a cookie of its
// own, sent only to /operator pages. A tenant's session never opens an
// operator page, nor an operator's a tenant's: each part parses only its
// own audience from its own cookie.
const (
	operatorCookie     = "boomerang_operator"
	operatorCookiePath = "/operator"
	operatorKey        = "operator"
)

// errNoOperator is what RequireOperator returns without a valid operator
// session: WriteError sends the browser to the operator's sign-in.
var errNoOperator = problem.Unauthorized.New("Sign in as the operator first; the session is missing, expired or ended.")

// OperatorEnabled reports whether the operator's pages are served: only
// with an admin token (--admin-token).
func (d *Dashboard) OperatorEnabled() bool { return d.adminToken.Enabled() }

// operatorSession returns the request's operator session, or nil.
func operatorSession(c echo.Context) *tenant.Session {
	sess, _ := c.Get(operatorKey).(*tenant.Session)
	return sess
}

// RequireOperator lets signed-in operators through: a valid operator
// session cookie, of the admin token in force, not signed out. Others
// get errNoOperator. A session nearing its token's expiry is renewed, up
// to the session maximum age.
func (d *Dashboard) RequireOperator(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, err := d.currentOperator(c)
		if err != nil {
			d.clearOperatorCookie(c)
			return errNoOperator
		}
		if sess, err = d.renewDue(c, sess, d.setOperatorCookie); err != nil {
			return err
		}
		c.Set(operatorKey, &sess)
		return next(c)
	}
}

// currentOperator returns the request's operator session, or
// ErrUnauthorized: also when the admin token changed since it began.
func (d *Dashboard) currentOperator(c echo.Context) (tenant.Session, error) {
	cookie, err := c.Cookie(operatorCookie)
	if err != nil {
		return tenant.Session{}, tenant.ErrUnauthorized
	}
	sess, err := d.tokens.ParseOperatorSession(cookie.Value)
	if err != nil || sess.KeyID != d.adminToken.Fingerprint() || !d.tenants.OperatorSessionActive(sess) {
		return tenant.Session{}, tenant.ErrUnauthorized
	}
	return sess, nil
}

// RequireOperatorCSRF refuses an operator's state change that lacks the
// session's CSRF token in its form body.
func (d *Dashboard) RequireOperatorCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !d.tokens.CheckCSRF(operatorSession(c).ID, c.Request().PostFormValue("csrf")) {
			return d.render(c, http.StatusForbidden, "error", view{Title: "Form expired",
				Error: "This form has expired or did not come from this dashboard. Go back, reload the page and try again."})
		}
		return next(c)
	}
}

// toOperatorSignIn sends the browser to the operator's sign-in, and back
// to the operator page it asked for.
func toOperatorSignIn(c echo.Context) {
	target := "/operator/signin"
	if next := safeNext(c.Request().RequestURI); c.Request().Method == http.MethodGet && strings.HasPrefix(next, "/operator/") {
		target += "?next=" + url.QueryEscape(next)
	}
	_ = c.Redirect(http.StatusSeeOther, target)
}

// operatorNext is where an operator goes after signing in: an operator
// page, the tenants list by default.
func operatorNext(next string) string {
	if next = safeNext(next); strings.HasPrefix(next, "/operator/") {
		return next
	}
	return "/operator/tenants"
}

// OperatorSignInPage handles GET /operator/signin: the admin token form.
func (d *Dashboard) OperatorSignInPage(c echo.Context) error {
	return d.render(c, http.StatusOK, "operator-signin", view{Title: "Operator sign-in",
		Data: signInData{Next: operatorNext(c.QueryParam("next"))}})
}

// OperatorSignIn handles POST /operator/signin with the admin token,
// compared in constant time.
func (d *Dashboard) OperatorSignIn(c echo.Context) error {
	data := signInData{Next: operatorNext(c.FormValue("next"))}
	if !d.sameOrigin(c) {
		return d.render(c, http.StatusForbidden, "operator-signin", view{Title: "Operator sign-in", Data: data,
			Error: "Sign in from this dashboard's own page."})
	}
	if !d.adminToken.Check(strings.TrimSpace(c.FormValue("adminToken"))) {
		d.logger.Warn("operator sign-in refused: wrong admin token", "remote_ip", c.RealIP())
		return d.render(c, http.StatusUnauthorized, "operator-signin", view{Title: "Operator sign-in", Data: data,
			Error: "That is not the admin token."})
	}
	token, sess, err := d.tokens.IssueOperatorSession(d.adminToken.Fingerprint())
	if err != nil {
		return err
	}
	d.setOperatorCookie(c, token, sess)
	d.logger.Info("operator signed in", "remote_ip", c.RealIP())
	return c.Redirect(http.StatusSeeOther, data.Next)
}

// OperatorSignOut handles POST /operator/signout: the session ends on
// every node.
func (d *Dashboard) OperatorSignOut(c echo.Context) error {
	sess := operatorSession(c)
	d.clearOperatorCookie(c)
	if err := d.tenantAdmin.EndOperatorSession(c.Request().Context(), sess.ID, sess.EndsAt); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/operator/signin")
}

func (d *Dashboard) setOperatorCookie(c echo.Context, token string, sess tenant.Session) {
	c.SetCookie(&http.Cookie{
		Name: operatorCookie, Value: token, Path: operatorCookiePath, Expires: sess.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: d.secureCookies(c),
	})
}

func (d *Dashboard) clearOperatorCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: operatorCookie, Value: "", Path: operatorCookiePath, MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: d.secureCookies(c)})
}

// isNoOperator reports whether err asks for the operator's sign-in.
func isNoOperator(err error) bool { return errors.Is(err, errNoOperator) }
