package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// noSuchKey is the detail of the 404 for a key no task of the tenant has
// used (nor a pause named).
const noSuchKey = "No such key."

// GetFlowControl handles GET /v1/flow-control/:key: the key's
// configuration, whether it is paused, and its waiting and in-flight
// counts.
func (a *API) GetFlowControl(c echo.Context) error {
	return a.keyOp(c, broker.KeyFlowControl, a.keys.Get)
}

// PauseFlowControl handles POST /v1/flow-control/:key/pause: the key
// admits no new task; tasks in flight go on.
func (a *API) PauseFlowControl(c echo.Context) error {
	return a.keyOp(c, broker.KeyFlowControl, a.keys.Pause)
}

// ResumeFlowControl handles POST /v1/flow-control/:key/resume.
func (a *API) ResumeFlowControl(c echo.Context) error {
	return a.keyOp(c, broker.KeyFlowControl, a.keys.Resume)
}

// GetOrderingKey handles GET /v1/ordering-keys/:key: the task holding the
// key and its queue, in order.
func (a *API) GetOrderingKey(c echo.Context) error {
	return a.keyOp(c, broker.KeyOrdering, a.keys.Get)
}

// PauseOrderingKey handles POST /v1/ordering-keys/:key/pause.
func (a *API) PauseOrderingKey(c echo.Context) error {
	return a.keyOp(c, broker.KeyOrdering, a.keys.Pause)
}

// ResumeOrderingKey handles POST /v1/ordering-keys/:key/resume.
func (a *API) ResumeOrderingKey(c echo.Context) error {
	return a.keyOp(c, broker.KeyOrdering, a.keys.Resume)
}

// KeyParam reads and checks the :key parameter of a key route (the key
// URL-encoded): a 400 naming "key" when it is not a valid key.
func KeyParam(c echo.Context) (string, error) {
	key, err := url.PathUnescape(c.Param("key"))
	if err != nil {
		return "", problem.Invalid(problem.FieldError{Field: "key", Message: "must be a URL-encoded key"})
	}
	if msg := broker.ValidKey(key); msg != "" {
		return "", problem.Invalid(problem.FieldError{Field: "key", Message: msg})
	}
	return key, nil
}

type keyOpFunc func(ctx context.Context, tenantID, kind, key string) (*broker.KeyInfo, error)

func (a *API) keyOp(c echo.Context, kind string, op keyOpFunc) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	key, err := KeyParam(c)
	if err != nil {
		return err
	}
	info, err := op(c.Request().Context(), Principal(c).TenantID, kind, key)
	if errors.Is(err, broker.ErrKeyNotFound) {
		return problem.NotFound.New(noSuchKey)
	} else if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, info)
}
