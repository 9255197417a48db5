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
	hash := ""
	if spec.IdempotencyKey != "" {
		hash = requestHash(body)
	}
	task, replay, err := a.tasks.Create(c.Request().Context(), Principal(c).TenantID, spec, hash)
	switch {
	case err != nil:
		return err
	case replay:
		c.Response().Header().Set("Idempotent-Replayed", "true")
		return a.createdResponse(c, http.StatusOK, task)
	}
	return a.createdResponse(c, http.StatusAccepted, task)
}

// requestHash identifies a create request for idempotency: its JSON body
// with insignificant white space removed, and nothing else.
func requestHash(body []byte) string {
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
