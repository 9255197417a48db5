package dashboard

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/api"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// keyData is what the key page shows.
type keyData struct {
	Info *broker.KeyInfo
	// Path is the page's own path: /flow-control/{key} or
	// /ordering-keys/{key}, the key escaped.
	Path string
	// Ordering says the key is an ordering key.
	Ordering bool
	// Idle says the key has no state: no task has used it, or it has
	// been idle long enough to be forgotten (broker.KeyIdleTTL).
	Idle bool
}

// keyPath is the dashboard path of a key's page.
func keyPath(kind, key string) string {
	if kind == broker.KeyOrdering {
		return "/ordering-keys/" + url.PathEscape(key)
	}
	return "/flow-control/" + url.PathEscape(key)
}

// KeyPage returns the handler of GET /flow-control/:key (kind
// broker.KeyFlowControl) or /ordering-keys/:key (broker.KeyOrdering): the
// key's settings, counts, the tasks holding it and its queue in order,
// with a pause or resume button.
func (d *Dashboard) KeyPage(kind string) echo.HandlerFunc {
	return func(c echo.Context) error {
		key, err := api.KeyParam(c)
		if err != nil {
			return err
		}
		info, err := d.keys.Get(c.Request().Context(), api.Principal(c).TenantID, kind, key)
		idle := errors.Is(err, broker.ErrKeyNotFound)
		if idle {
			// An old task links here after its key was forgotten: the
			// page says the key is idle (and can still be paused).
			info, err = &broker.KeyInfo{Key: key, Kind: kind}, nil
		} else if err != nil {
			return err
		}
		flash := map[string]string{"paused": "Paused: no new task is admitted.", "resumed": "Resumed."}[c.QueryParam("done")]
		return d.render(c, http.StatusOK, "key", view{Title: "Key " + key, Nav: "tasks", Flash: flash,
			Data: keyData{Info: info, Path: keyPath(kind, key), Ordering: kind == broker.KeyOrdering, Idle: idle}})
	}
}

// SetKeyPaused returns the handler of POST …/:key/pause (paused) or
// …/:key/resume.
func (d *Dashboard) SetKeyPaused(kind string, paused bool) echo.HandlerFunc {
	op, done := d.keys.Resume, "resumed"
	if paused {
		op, done = d.keys.Pause, "paused"
	}
	return func(c echo.Context) error {
		key, err := api.KeyParam(c)
		if err != nil {
			return err
		}
		if _, err := op(c.Request().Context(), api.Principal(c).TenantID, kind, key); errors.Is(err, broker.ErrKeyNotFound) {
			return problem.NotFound.New("No such key.")
		} else if err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, keyPath(kind, key)+"?done="+done)
	}
}

// addKeyFuncs adds the paths of a task's key pages to the templates'
// functions.
func addKeyFuncs(funcs template.FuncMap) {
	funcs["orderingKeyPath"] = func(key string) string { return keyPath(broker.KeyOrdering, key) }
	funcs["flowControlPath"] = func(key string) string { return keyPath(broker.KeyFlowControl, key) }
}
