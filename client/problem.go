package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ProblemBase prefixes the type of every problem Boomerang answers with.
const ProblemBase = "https://boomerang.dev/problems/"

// Kinds of problem: what Problem.Kind returns. The API's documentation
// (docs/problems.md) lists when each occurs.
const (
	KindValidation           = "validation"
	KindMalformed            = "malformed-request"
	KindUnauthorized         = "unauthorized"
	KindInsufficientScope    = "insufficient-scope"
	KindNotFound             = "not-found"
	KindTaskFinished         = "task-finished"
	KindTaskNotFinished      = "task-not-finished"
	KindNoWebhook            = "no-webhook"
	KindConflict             = "conflict"
	KindTooLarge             = "request-too-large"
	KindIdempotencyKeyReused = "idempotency-key-reused"
	KindRateLimited          = "rate-limited"
	KindTooManyStreams       = "too-many-streams"
	KindQuotaExceeded        = "quota-exceeded"
	KindTenantSuspended      = "tenant-suspended"
	KindUnavailable          = "unavailable"
	KindInternal             = "internal"
)

// Problem is an error the API answered with (RFC 9457 problem details).
// Branch on Kind (or Type), not on Title or Detail.
type Problem struct {
	// Type is the problem's URI: ProblemBase and its kind. An answer that
	// was not a problem (a proxy's error page, say) has "about:blank".
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
	// Scope is the scope the API key lacks, in an insufficient-scope
	// problem.
	Scope string `json:"scope,omitempty"`
	// RetryAfter is the answer's Retry-After (zero without one): how long
	// to wait before trying again, on a 429 or a 503.
	RetryAfter time.Duration `json:"-"`
}

// FieldError names a field of the request and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "boomerang: %d %s", p.Status, p.Title)
	if p.Detail != "" {
		b.WriteString(": " + p.Detail)
	}
	for _, e := range p.Errors {
		fmt.Fprintf(&b, "; %s %s", e.Field, e.Message)
	}
	return b.String()
}

// Kind returns the problem's kind, its type without ProblemBase
// ("not-found"); "" for an answer that was not a Boomerang problem.
func (p *Problem) Kind() string {
	kind, ok := strings.CutPrefix(p.Type, ProblemBase)
	if !ok {
		return ""
	}
	return kind
}

// IsKind reports whether err is, or wraps, a Problem of the kind.
func IsKind(err error, kind string) bool {
	var p *Problem
	return errors.As(err, &p) && p.Kind() == kind
}

// problemOf reads the problem of an error answer. An answer that is not
// a problem becomes one with its status and the beginning of its body.
func problemOf(resp *http.Response, body []byte) *Problem {
	p := &Problem{}
	if json.Unmarshal(body, p) != nil || p.Type == "" || p.Status == 0 {
		detail := strings.TrimSpace(string(body))
		if len(detail) > 200 {
			detail = detail[:200]
		}
		p = &Problem{Type: "about:blank", Title: http.StatusText(resp.StatusCode), Status: resp.StatusCode, Detail: detail}
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
		p.RetryAfter = time.Duration(secs) * time.Second
	}
	return p
}
