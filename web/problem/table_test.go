package problem_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/problem"
)

func TestErrorsMapToTheirProblems(t *testing.T) {
	req := httptest.NewRequest(http.MethodPatch, "/v1/tasks", nil)
	tests := []struct {
		name   string
		err    error
		status int
		slug   string
		title  string
		detail string
		field  string // named in errors
		header [2]string
	}{
		{"task not found", broker.ErrNotFound, 404, "not-found", "Not found", "No such resource.", "", [2]string{}},
		{"tenant not found", tenant.ErrNotFound, 404, "not-found", "Not found", "No such resource.", "", [2]string{}},
		{"bad key", tenant.ErrUnauthorized, 401, "unauthorized", "Unauthorized", "The API key is missing, malformed, unknown or revoked.", "",
			[2]string{"WWW-Authenticate", `Bearer realm="boomerang"`}},
		{"bad cursor", broker.ErrBadCursor, 400, "validation", "Invalid request", "One or more fields are invalid.", "cursor", [2]string{}},
		{"finished", broker.ErrFinished, 409, "task-finished", "Task already finished",
			"The task has finished; only unfinished tasks can be canceled.", "", [2]string{}},
		{"not finished", broker.ErrNotFinished, 409, "task-not-finished", "Task not finished", "The task has not finished yet.", "", [2]string{}},
		{"no webhook", broker.ErrNoWebhook, 409, "no-webhook", "Nothing to redeliver",
			"The task has no webhookUrl, or was canceled and so has no result to send.", "", [2]string{}},
		{"idempotency mismatch", broker.ErrIdempotencyMismatch, 422, "idempotency-key-reused", "Idempotency key reused",
			"This Idempotency-Key was used with a different request body within the idempotency window.", "", [2]string{}},
		{"tenant exists", tenant.ErrExists, 409, "tenant-exists", "Tenant already exists",
			"A tenant with this id exists already; nothing was changed.", "", [2]string{}},
		{"retention out of bounds", fmt.Errorf("set: %w", tenant.ErrRetentionOutOfBounds), 400, "validation", "Invalid request",
			"One or more fields are invalid.", "days", [2]string{}},
		{"retention passed", broker.ErrRetentionPassed, 404, "not-found", "Not found",
			"The task's retention has passed since it finished: it is being removed.", "", [2]string{}},
		{"conflict", broker.ErrConflict, 409, "conflict", "Conflict",
			"The change conflicts with one stored before it; nothing was changed.", "", [2]string{}},
		{"event too large", broker.ErrEventTooLarge, 413, "request-too-large", "Request body too large",
			"The task is larger than the event log takes (its NATS server's max_payload); nothing was stored.", "", [2]string{}},
		{"body too large", &http.MaxBytesError{Limit: 64}, 413, "request-too-large", "Request body too large",
			"The request body exceeds 64 bytes.", "", [2]string{}},
		{"no route", echo.ErrNotFound, 404, "not-found", "Not found", "No route for PATCH /v1/tasks.", "", [2]string{}},
		{"wrong method", echo.ErrMethodNotAllowed, 405, "method-not-allowed", "Method not allowed", "PATCH is not allowed here.", "", [2]string{}},
		{"echo's too large", echo.ErrStatusRequestEntityTooLarge, 413, "request-too-large", "Request body too large",
			"The request body exceeds 1024 bytes.", "", [2]string{}},
		{"another client error", echo.NewHTTPError(http.StatusTeapot, "short and stout"), 418, "http-418", "I'm a teapot", "short and stout", "", [2]string{}},
		{"a problem", problem.RateLimited.New("slow down").WithHeader("Retry-After", "3"), 429, "rate-limited", "Too many requests", "slow down", "",
			[2]string{"Retry-After", "3"}},
		{"event log unavailable", broker.ErrUnavailable, 503, "unavailable", "Service unavailable",
			"The event log did not confirm the change in time (a NATS server is unreachable, or the cluster is electing a leader). It may or may not have been stored: retry, with the same Idempotency-Key for a create.",
			"", [2]string{"Retry-After", "1"}},
		{"a view behind, on a key", fmt.Errorf("%w: %w", tenant.ErrViewBehind, context.DeadlineExceeded), 503, "unavailable", "Service unavailable",
			"This server could not catch up with the event log in time to answer (a NATS server is unreachable, or the cluster is electing a leader); nothing was changed. Retry.",
			"", [2]string{"Retry-After", "1"}},
		{"a view behind, on a task", fmt.Errorf("%w: %w", broker.ErrViewBehind, context.DeadlineExceeded), 503, "unavailable", "Service unavailable",
			"This server could not catch up with the event log in time to answer (a NATS server is unreachable, or the cluster is electing a leader); nothing was changed. Retry.",
			"", [2]string{"Retry-After", "1"}},
		{"unavailable", problem.Unavailable.New("catching up"), 503, "unavailable", "Service unavailable", "catching up", "", [2]string{"Retry-After", "1"}},
		{"anything else", errors.New("disk on fire"), 500, "internal", "Internal error",
			"Something went wrong on our side; nothing you sent was changed by it. Try again.", "", [2]string{}},
		{"echo's 500", echo.ErrInternalServerError, 500, "internal", "Internal error",
			"Something went wrong on our side; nothing you sent was changed by it. Try again.", "", [2]string{}},
	}
	for _, tt := range tests {
		for _, err := range []error{tt.err, fmt.Errorf("op: %w", tt.err)} {
			p, internal := problem.For(err, req, 1024)
			if p.Status != tt.status || p.Type != problem.Base+tt.slug || p.Title != tt.title || p.Detail != tt.detail {
				t.Errorf("%s (%v): got %d %s %q %q, want %d %s %q %q", tt.name, err, p.Status, p.Type, p.Title, p.Detail,
					tt.status, problem.Base+tt.slug, tt.title, tt.detail)
			}
			if internal != (tt.status == 500) {
				t.Errorf("%s: internal %v, want %v", tt.name, internal, tt.status == 500)
			}
			if tt.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tt.field || p.Errors[0].Message == "") {
				t.Errorf("%s: errors %+v, want one naming %s", tt.name, p.Errors, tt.field)
			}
			if tt.header[0] != "" && p.Header(tt.header[0]) != tt.header[1] {
				t.Errorf("%s: %s %q, want %q", tt.name, tt.header[0], p.Header(tt.header[0]), tt.header[1])
			}
		}
	}
}

// WithDetail changes what the problem says, never its status or type.
func TestWithDetailRewordsOnlyTheDetail(t *testing.T) {
	req := httptest.NewRequest(http.MethodDelete, "/v1/tasks/x", nil)
	err := problem.WithDetail(fmt.Errorf("cancel: %w", broker.ErrFinished), "The task has succeeded.")
	p, internal := problem.For(err, req, 0)
	if internal || p.Status != 409 || p.Type != problem.Base+"task-finished" || p.Detail != "The task has succeeded." {
		t.Fatalf("got %+v, want the task-finished problem with the new detail", p)
	}
	if again, _ := problem.For(broker.ErrFinished, req, 0); again.Detail == "The task has succeeded." {
		t.Fatal("WithDetail changed the table")
	}
	if p, internal := problem.For(problem.WithDetail(errors.New("boom"), "shown?"), req, 0); !internal || p.Detail == "shown?" {
		t.Fatalf("an internal error got the detail %q", p.Detail)
	}
	if problem.WithDetail(nil, "x") != nil {
		t.Fatal("WithDetail(nil) is not nil")
	}
}

// Every kind has a status and a title, and docs/problems.md lists it.
func TestKindsAreDocumented(t *testing.T) {
	doc, err := readProblemsDoc()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range problem.Kinds() {
		p := k.New("x")
		if p.Status < 400 || p.Title == "" || p.Type != problem.Base+string(k) {
			t.Errorf("%s: %+v", k, p)
		}
		if !strings.Contains(doc, fmt.Sprintf("| `%s` | %d |", k, p.Status)) {
			t.Errorf("docs/problems.md lacks the row of %s (%d)", k, p.Status)
		}
	}
}

func TestWriteAnswersProblemJSON(t *testing.T) {
	e := echo.New()
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		rec := httptest.NewRecorder()
		c := e.NewContext(httptest.NewRequest(method, "/v1/tasks", nil), rec)
		problem.NewMapper(slog.New(slog.DiscardHandler), 0).WriteError(c, tenant.ErrUnauthorized)
		if rec.Code != 401 || rec.Header().Get("Content-Type") != problem.ContentType || rec.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: got %d %v", method, rec.Code, rec.Header())
		}
		body, _ := io.ReadAll(rec.Body)
		if method == http.MethodHead {
			if len(body) != 0 {
				t.Fatalf("HEAD: a body of %d bytes", len(body))
			}
			continue
		}
		var p problem.Problem
		if err := json.Unmarshal(body, &p); err != nil || p.Status != 401 || p.Type != problem.Base+"unauthorized" {
			t.Fatalf("body %s: %v", body, err)
		}
	}
}

func readProblemsDoc() (string, error) {
	data, err := os.ReadFile("../../docs/problems.md")
	return string(data), err
}
