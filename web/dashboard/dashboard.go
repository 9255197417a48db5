// Package dashboard serves Boomerang's web dashboard: server-rendered pages
// (html/template and static assets embedded in the binary) behind a session
// cookie, with a CSRF token on every state change. Its errors are pages for
// browsers and problems for scripts. It shares the API's validation of new
// tasks and its principal; the routes are listed in package web.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/api"
	"github.com/boomerang-dev/boomerang/web/problem"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*
var staticFS embed.FS

// contentSecurityPolicy allows only this origin's scripts and styles: no
// inline script, no inline style, no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// Config holds the dashboard's dependencies.
type Config struct {
	Tasks       *broker.Tasks
	Tenants     *tenant.Store
	TenantAdmin *tenant.Service
	// Schedules reads and changes the tenants' schedules, for the
	// schedules pages; nil: no schedules pages.
	Schedules *broker.Schedules
	// Tokens issues and checks sessions, sign-in links and CSRF tokens.
	Tokens *tenant.Tokens
	// Validator checks the new-task form: the API's own validation.
	Validator *api.Validator
	// Retention is how long task events are kept, shown in the settings.
	Retention time.Duration
	// TenantRetention bounds the retention of finished tasks a tenant
	// chooses in the settings, and is the default.
	TenantRetention tenant.RetentionBounds
	// Problems turns errors into the problems the error page shows.
	Problems *problem.Mapper
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// PublicURL is the node's base URL as users reach it (behind a proxy,
	// say): sign-in posts from its origin are same-origin, and the pages'
	// curl commands name it. Nil: the request's own.
	PublicURL *url.URL
	// SecureCookies makes the session cookie Secure on every response; it
	// is Secure on requests that came over TLS anyway.
	SecureCookies bool
	// Inbox is what the webhook inbox of `serve --dev` received, shown on
	// the inbox page; nil: no inbox page.
	Inbox Inbox
	// Quota gives the tenant's monthly task quota, shown in the settings
	// (nil: usage only).
	Quota QuotaSource
	// AdminToken signs the operator in to the operator's pages; without
	// one (the zero AdminToken) they are not served.
	AdminToken tenant.AdminToken
	// Logger records the operator's sign-ins and changes (discarded when
	// nil).
	Logger *slog.Logger

	// Keys shows, pauses and resumes ordering and flow-control keys (the
	// key pages).
	Keys *broker.Keys
	// Destinations lists the tenant's hosts whose concurrency this node
	// has lowered or paused, shown on the overview (nil: not shown).
	Destinations Destinations
}

// Dashboard holds the pages' handlers and what they need, parsed once.
type Dashboard struct {
	tasks       *broker.Tasks
	schedules   *broker.Schedules
	tenants     *tenant.Store
	tenantAdmin *tenant.Service
	tokens      *tenant.Tokens
	validator   *api.Validator
	retention   time.Duration
	bounds      tenant.RetentionBounds
	problems    *problem.Mapper
	now         func() time.Time
	publicURL   *url.URL
	secure      bool
	quota       QuotaSource
	inbox       Inbox
	adminToken  tenant.AdminToken
	logger      *slog.Logger
	keys        *broker.Keys
	// destinations lists a tenant's limited hosts (nil: none shown).
	destinations Destinations

	closeOnce sync.Once
	closing   chan struct{} // closed by Close: live updates end

	pages  map[string]*template.Template
	assets map[string]asset // logical name -> content and fingerprinted name
	byURL  map[string]asset // fingerprinted name -> asset
}

type asset struct {
	name, url, contentType string
	data                   []byte
}

// New parses the templates and fingerprints the static assets. An error
// means a template does not parse: a defect of the build.
func New(cfg Config) (*Dashboard, error) {
	d := &Dashboard{
		tasks: cfg.Tasks, schedules: cfg.Schedules, tenants: cfg.Tenants, tenantAdmin: cfg.TenantAdmin, tokens: cfg.Tokens,
		validator: cfg.Validator, retention: cfg.Retention, bounds: cfg.TenantRetention, problems: cfg.Problems, now: cfg.Now,
		publicURL: cfg.PublicURL, secure: cfg.SecureCookies, inbox: cfg.Inbox, closing: make(chan struct{}), quota: cfg.Quota,
		adminToken: cfg.AdminToken, logger: cfg.Logger, destinations: cfg.Destinations,
		keys:  cfg.Keys,
		pages: map[string]*template.Template{}, assets: map[string]asset{}, byURL: map[string]asset{},
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.problems == nil {
		d.problems = problem.NewMapper(nil, 0)
	}
	if d.logger == nil {
		d.logger = slog.New(slog.DiscardHandler)
	}
	if err := d.loadAssets(); err != nil {
		return nil, fmt.Errorf("dashboard: static assets: %w", err)
	}
	if err := d.parseTemplates(); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	return d, nil
}

// loadAssets reads the static files and names each by its content's hash.
func (d *Dashboard) loadAssets() error {
	return fs.WalkDir(staticFS, "static", func(p string, e fs.DirEntry, err error) error {
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
}

// parseTemplates parses each page with the layout and the partials.
func (d *Dashboard) parseTemplates() error {
	funcs := templateFuncs()
	funcs["asset"] = func(name string) string { return d.assets[name].url }
	addKeyFuncs(funcs)
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return fmt.Errorf("templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		page := path.Base(n)
		if page == "layout.html" || page == "partials.html" {
			continue
		}
		t, err := base.Clone()
		if err == nil {
			t, err = t.ParseFS(templateFS, n)
		}
		if err != nil {
			return fmt.Errorf("template %s: %w", page, err)
		}
		d.pages[strings.TrimSuffix(page, ".html")] = t
	}
	return nil
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
	// LiveFrom is the tenant's last event when a live page's data was
	// read: its live updates start after it, so that no change between
	// rendering and subscribing is missed. Zero on other pages.
	LiveFrom uint64
	// Inbox says that the node has a webhook inbox (serve --dev).
	Inbox bool
	// Operator says an operator is signed in: the operator's navigation,
	// and CSRF is the operator session's.
	Operator bool
}

// render executes a page into a buffer first, so a template error becomes a
// clean 500 rather than half a page.
func (d *Dashboard) render(c echo.Context, status int, page string, v view) error {
	t, ok := d.pages[page]
	if !ok {
		return fmt.Errorf("no page %q", page)
	}
	if sess := session(c); sess != nil {
		v.Session = sess
		v.CSRF = d.tokens.CSRFToken(sess.ID)
		if t, err := d.tenants.Get(sess.TenantID); err == nil {
			v.Tenant = t.Name
		}
	}
	if op := operatorSession(c); op != nil {
		v.Operator, v.CSRF = true, d.tokens.CSRFToken(op.ID)
	}
	v.Now = d.now()
	v.Inbox = d.inbox != nil
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		return fmt.Errorf("render %s: %w", page, err)
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// WriteError answers a page request that failed: the error page, with the
// problem's status, title and detail, for a browser (Accept: text/html);
// the problem itself for any other client, such as the pages' scripts. A
// request without a session is sent to sign in.
func (d *Dashboard) WriteError(c echo.Context, err error) {
	if c.Response().Committed {
		return
	}
	if errors.Is(err, errNoSession) {
		toSignIn(c)
		return
	}
	if isNoOperator(err) {
		toOperatorSignIn(c)
		return
	}
	p := d.problems.Problem(c, err)
	if strings.Contains(c.Request().Header.Get("Accept"), "text/html") {
		if rerr := d.render(c, p.Status, "error", view{Title: p.Title, Error: p.Detail}); rerr == nil {
			return
		}
	}
	problem.Write(c, p)
}

// Close ends the dashboard's own live updates (the inbox's), so that a
// graceful HTTP shutdown need not wait for them.
func (d *Dashboard) Close() { d.closeOnce.Do(func() { close(d.closing) }) }

// StaticAsset serves fingerprinted assets, cacheable for a year.
func (d *Dashboard) StaticAsset(c echo.Context) error {
	a, ok := d.byURL[c.Param("name")]
	if !ok {
		return problem.NotFound.New("No such asset.")
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	return c.Blob(http.StatusOK, a.contentType, a.data)
}
