package web

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

type createTenantRequest struct {
	Name *string `json:"name"`
}

// createTenant handles POST /admin/v1/tenants: 201 with the new tenant's id,
// API key and signing secret, shown only in this answer.
func (s *Server) createTenant(c echo.Context) error {
	var req createTenantRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Name == nil || strings.TrimSpace(*req.Name) == "" {
		return problemValidation([]FieldError{{Field: "name", Message: "is required"}})
	}
	name := strings.TrimSpace(*req.Name)
	if utf8.RuneCountInString(name) > 100 {
		return problemValidation([]FieldError{{Field: "name", Message: "must be at most 100 characters"}})
	}
	creds, err := s.tenantAdmin.Create(c.Request().Context(), name)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, creds)
}
