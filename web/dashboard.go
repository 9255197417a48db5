package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/tenant"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*
var staticFS embed.FS

const (
	sessionCookie = "boomerang_session"
	sessionKey    = "session"
)

// contentSecurityPolicy allows only this origin's scripts and styles: no
// inline script, no inline style, no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// dashboard holds what the server-rendered pages need, parsed once.
type dashboard struct {
	pages  map[string]*template.Template
	assets map[string]asset // logical name -> content and fingerprinted name
	byURL  map[string]asset // fingerprinted name -> asset

	mu        sync.Mutex
	usedLinks map[string]time.Time // sign-in link ids already used, until they expire
}

type asset struct {
	name, url, contentType string
	data                   []byte
}

func newDashboard(funcs template.FuncMap) (*dashboard, error) {
	d := &dashboard{pages: map[string]*template.Template{}, assets: map[string]asset{}, byURL: map[string]asset{}, usedLinks: map[string]time.Time{}}
	err := fs.WalkDir(staticFS, "static", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		name := path.Base(p)
		ext := path.Ext(name)
		fingerprinted := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext
		a := asset{name: name, url: "/static/" + fingerprinted, data: data, contentType: map[string]string{
			".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml",
		}[ext]}
		d.assets[name], d.byURL[fingerprinted] = a, a
		return nil
	})
	if err != nil {
		return nil, err
	}
	funcs["asset"] = func(name string) string { return d.assets[name].url }
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		page := path.Base(n)
		if page == "layout.html" || page == "partials.html" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", page, err)
		}
		d.pages[strings.TrimSuffix(page, ".html")] = t
	}
	return d, nil
}

// useLink marks a sign-in link as used and reports whether it was unused.
func (d *dashboard) useLink(id string, expires time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
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

// view is what every page template gets.
type view struct {
	Title   string
	Nav     string
	Session *tenant.Session
	Tenant  string
	CSRF    string
	Flash   string
	Error   string
	Now     time.Time
	Data    any
}

// render executes a page into a buffer first, so a template error becomes a
// clean 500 rather than half a page.
func (s *Server) render(c echo.Context, status int, page string, v view) error {
	t, ok := s.dash.pages[page]
	if !ok {
		return fmt.Errorf("no page %q", page)
	}
	if sess, ok := c.Get(sessionKey).(*tenant.Session); ok {
		v.Session = sess
		v.CSRF = s.tokens.CSRFToken(sess.ID)
		if t, err := s.tenants.Get(sess.TenantID); err == nil {
			v.Tenant = t.Name
		}
	}
	v.Now = s.now()
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		return fmt.Errorf("render %s: %w", page, err)
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// staticAsset serves fingerprinted assets, cacheable for a year.
func (s *Server) staticAsset(c echo.Context) error {
	a, ok := s.dash.byURL[c.Param("name")]
	if !ok {
		return problemNotFound("No such asset.")
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	return c.Blob(http.StatusOK, a.contentType, a.data)
}

// requireSession lets signed-in users through: a valid session cookie whose
// API key (if it signed in with one) has not been revoked since. Others are
// sent to sign in. A session nearing its end is renewed.
func (s *Server) requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		cookie, err := c.Cookie(sessionCookie)
		var sess tenant.Session
		if err == nil {
			sess, err = s.tokens.ParseSession(cookie.Value)
		}
		if err == nil && sess.KeyID != "" && !s.tenants.KeyActive(sess.TenantID, sess.KeyID) {
			err = tenant.ErrUnauthorized
		}
		if err != nil {
			s.clearSession(c)
			if c.Request().Method != http.MethodGet {
				return c.Redirect(http.StatusSeeOther, "/signin")
			}
			return c.Redirect(http.StatusSeeOther, "/signin?next="+url.QueryEscape(c.Request().URL.RequestURI()))
		}
		if time.Until(sess.ExpiresAt) < tenant.SessionTTL/2 {
			if err := s.startSession(c, sess.Principal); err != nil {
				return err
			}
			sess = *c.Get(sessionKey).(*tenant.Session)
		} else {
			c.Set(sessionKey, &sess)
		}
		c.Set(principalKey, sess.Principal)
		return next(c)
	}
}

// requireCSRF refuses a state change whose form lacks the session's token.
func (s *Server) requireCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess := c.Get(sessionKey).(*tenant.Session)
		if !s.tokens.CheckCSRF(sess.ID, c.FormValue("csrf")) {
			return s.render(c, http.StatusForbidden, "error", view{Title: "Form expired",
				Error: "This form has expired or did not come from this dashboard. Go back, reload the page and try again."})
		}
		return next(c)
	}
}

func (s *Server) startSession(c echo.Context, p tenant.Principal) error {
	token, sess, err := s.tokens.IssueSession(p)
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

func (s *Server) clearSession(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.Request().TLS != nil})
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
