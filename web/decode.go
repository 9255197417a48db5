package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// rawBodyKey keeps the request body in the echo context once decoded.
const rawBodyKey = "rawBody"

// decodeJSON reads the request body (at most the body limit) into v,
// refusing unknown fields and trailing data, and turns every decoding error
// into a problem that names the field.
func (s *Server) decodeJSON(c echo.Context, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, s.limits.MaxBody))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return problemTooLarge(maxErr.Limit)
		}
		return problemMalformed("Could not read the request body.")
	}
	if ct := c.Request().Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return problem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
			"Send the body as application/json.")
	}
	c.Set(rawBodyKey, body)
	if !utf8.Valid(body) {
		return problemMalformed("The body is not valid UTF-8.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return problemMalformed("The request body is empty; send a JSON object.")
	}
	if p := checkFieldNames(body, v); p != nil {
		return p
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeProblem(err)
	}
	if dec.More() {
		return problemMalformed("The body has data after the JSON object.")
	}
	return nil
}

func decodeProblem(err error) *Problem {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return problemMalformed(fmt.Sprintf("The body is not valid JSON (at byte %d).", syntaxErr.Offset))
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return problemMalformed("The body must be a JSON object.")
		}
		return problemValidation([]FieldError{{Field: field, Message: "must be " + jsonTypeName(typeErr.Type.String())}})
	case errors.Is(err, io.ErrUnexpectedEOF):
		return problemMalformed("The body ends in the middle of a JSON value.")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return problemValidation([]FieldError{{Field: name, Message: "unknown field"}})
	}
	var timeErr *parseTimeError
	if errors.As(err, &timeErr) {
		return problemValidation([]FieldError{{Field: timeErr.field, Message: timeErr.msg}})
	}
	return problemMalformed("The body could not be decoded as the expected JSON object.")
}

type parseTimeError struct{ field, msg string }

func (e *parseTimeError) Error() string { return e.field + ": " + e.msg }

func jsonTypeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "*int"):
		return "an integer"
	case strings.Contains(goType, "float"):
		return "a number"
	case strings.Contains(goType, "string"):
		if strings.HasPrefix(goType, "map") {
			return "an object of strings"
		}
		return "a string"
	case strings.HasPrefix(goType, "map"):
		return "an object"
	default:
		return "of another type"
	}
}

// checkFieldNames refuses top-level members whose names match a field of v
// only case-insensitively: encoding/json would accept "webhookURL" for
// "webhookUrl", hiding the client's typo.
func checkFieldNames(body []byte, v any) *Problem {
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) != nil {
		return nil // not an object: the decoder reports it
	}
	known := map[string]bool{}
	t := reflect.TypeOf(v).Elem()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		known[name] = true
	}
	var errs []FieldError
	for name := range members {
		if !known[name] {
			errs = append(errs, FieldError{Field: name, Message: "unknown field"})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	return problemValidation(errs)
}
