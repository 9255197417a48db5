package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// CreateTask handles POST /v1/tasks.
func (a *API) CreateTask(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	var req TaskRequest
	body, err := a.decoder.decodeJSON(c, &req)
	if err != nil {
		return err
	}
	spec, errs := a.validator.Task(req, c.Request().Header.Get("Idempotency-Key"))
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	var hash, legacy string
	if spec.IdempotencyKey != "" {
		hash, legacy = requestHash(body), legacyRequestHash(body)
	}
	task, replay, err := a.tasks.Create(c.Request().Context(), Principal(c).TenantID, spec, hash, legacy)
	switch {
	case err != nil:
		return err
	case replay:
		c.Response().Header().Set("Idempotent-Replayed", "true")
		return a.createdResponse(c, http.StatusOK, task)
	}
	return a.createdResponse(c, http.StatusAccepted, task)
}

// requestHash identifies a create request for idempotency: the canonical
// form of its JSON body (canonicalJSON), so that the same JSON with its
// keys in another order, other white space or other string escapes is the
// same request, payload included. The payload's bytes matter to the
// target, but a repeat creates nothing: the target gets the first
// request's bytes, once. Numbers count as written.
func requestHash(body []byte) string {
	canon, err := canonicalJSON(body)
	if err != nil {
		canon = body
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

// legacyRequestHash is the request hash of earlier versions (the body
// without insignificant white space): a repeat of a request created
// before an upgrade still matches it.
func legacyRequestHash(body []byte) string {
	var compact bytes.Buffer
	if json.Compact(&compact, body) != nil {
		compact.Reset()
		compact.Write(body)
	}
	sum := sha256.Sum256(compact.Bytes())
	return hex.EncodeToString(sum[:])
}

// createdTaskBody is the answer to a create: the task and a status token
// that lets a browser follow it.
type createdTaskBody struct {
	*broker.Task
	StatusToken          string     `json:"statusToken,omitempty"`
	StatusTokenExpiresAt *time.Time `json:"statusTokenExpiresAt,omitempty"`
}

func (a *API) createdResponse(c echo.Context, status int, task *broker.Task) error {
	body := createdTaskBody{Task: task}
	if a.tokens != nil {
		token, exp, err := a.tokens.IssueTaskToken(Principal(c).TenantID, task.ID)
		if err != nil {
			return err
		}
		body.StatusToken, body.StatusTokenExpiresAt = token, &exp
	}
	c.Response().Header().Set("Location", "/v1/tasks/"+task.ID+"/status")
	return c.JSON(status, body)
}
