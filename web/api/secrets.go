package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/web/problem"
)

// Bounds of a signing secret's overlap, in seconds: the dashboard offers
// one hour to seven days.
const (
	defaultOverlap = 24 * 60 * 60
	maxOverlap     = 7 * 24 * 60 * 60
)

type rotateSecretRequest struct {
	// Overlap is how long, in seconds, the old secret keeps signing
	// beside the new one (default one day, at most seven).
	Overlap *int `json:"overlap"`
}

// rotatedSecretBody is the answer of POST /v1/signing-secrets/rotate.
type rotatedSecretBody struct {
	SigningSecret           string    `json:"signingSecret"`
	PreviousSecretExpiresAt time.Time `json:"previousSecretExpiresAt"`
}

// RotateSigningSecret handles POST /v1/signing-secrets/rotate: a new
// signing secret, shown only in this answer, signs every message from now
// on; the previous one signs beside it (two signatures in
// webhook-signature) until the overlap has passed, as the dashboard's
// rotation does.
func (a *API) RotateSigningSecret(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	var req rotateSecretRequest
	if err := a.decoder.decodeOptionalJSON(c, &req); err != nil {
		return err
	}
	overlap := defaultOverlap
	if req.Overlap != nil {
		if *req.Overlap < 0 || *req.Overlap > maxOverlap {
			return problem.Invalid(problem.FieldError{Field: "overlap", Message: "must be a number of seconds from 0 to 604800 (seven days)"})
		}
		overlap = *req.Overlap
	}
	d := time.Duration(overlap) * time.Second
	now := a.now().UTC()
	secret, err := a.tenantAdmin.RotateSecret(c.Request().Context(), Principal(c).TenantID, d)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, rotatedSecretBody{SigningSecret: secret.String(), PreviousSecretExpiresAt: now.Add(d)})
}
