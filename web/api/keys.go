package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// maxKeyName bounds a key's name, as the dashboard does.
const maxKeyName = 60

// keyList is the answer of GET /v1/keys.
type keyList struct {
	Items []tenant.Key `json:"items"`
}

// ListKeys handles GET /v1/keys: every API key of the tenant, revoked ones
// included, oldest first, without their secret part.
func (a *API) ListKeys(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	t, err := a.tenants.Get(Principal(c).TenantID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, keyList{Items: t.Keys})
}

type createKeyRequest struct {
	Name   *string  `json:"name"`
	Scopes []string `json:"scopes"`
}

// createdKeyBody is a new key: its description and, this once, the key.
type createdKeyBody struct {
	tenant.Key
	APIKey string `json:"apiKey"`
}

// CreateKey handles POST /v1/keys: 201 with the new key, shown only in
// this answer. It carries the scopes named, or every scope when none is;
// a key may only give scopes it has itself (403 insufficient-scope
// naming the first it lacks).
func (a *API) CreateKey(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	var req createKeyRequest
	if _, err := a.decoder.decodeJSON(c, &req); err != nil {
		return err
	}
	name, scopes, errs := checkKeyRequest(req)
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	p := Principal(c)
	for _, s := range scopes {
		if !p.Allows(s) {
			return problemLacksScope(s)
		}
	}
	if len(scopes) == 0 && !p.HasAllScopes() {
		for _, s := range tenant.AllScopes() {
			if !p.Allows(s) {
				return problemLacksScope(s)
			}
		}
	}
	key, k, err := a.tenantAdmin.CreateKey(c.Request().Context(), p.TenantID, name, scopes...)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, createdKeyBody{Key: k, APIKey: key})
}

// checkKeyRequest returns a new key's name and scopes, or the fields at
// fault.
func checkKeyRequest(req createKeyRequest) (string, []tenant.Scope, []problem.FieldError) {
	var errs []problem.FieldError
	var name string
	if req.Name != nil {
		name = strings.TrimSpace(*req.Name)
	}
	if name == "" || utf8.RuneCountInString(name) > maxKeyName {
		errs = append(errs, problem.FieldError{Field: "name", Message: fmt.Sprintf("is required: 1 to %d characters", maxKeyName)})
	}
	if req.Scopes != nil && len(req.Scopes) == 0 {
		errs = append(errs, problem.FieldError{Field: "scopes", Message: "must name at least one scope; leave it out for every scope"})
	}
	scopes := make([]tenant.Scope, 0, len(req.Scopes))
	for i, s := range req.Scopes {
		if !tenant.Scope(s).Valid() {
			errs = append(errs, problem.FieldError{Field: fmt.Sprintf("scopes[%d]", i), Message: "must be one of " + tenant.ScopeNames()})
		}
		scopes = append(scopes, tenant.Scope(s))
	}
	return name, scopes, errs
}

// RevokeKey handles DELETE /v1/keys/:key: 204 once the key no longer
// works on this node (every other node follows within moments); a key
// revoked before is a 204 too. The key the request came with may revoke
// itself.
func (a *API) RevokeKey(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	err := a.tenantAdmin.RevokeKey(c.Request().Context(), Principal(c).TenantID, c.Param("key"))
	if errors.Is(err, tenant.ErrNotFound) {
		return problem.WithDetail(err, "No such API key.")
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
