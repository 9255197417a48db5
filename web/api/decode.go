package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// decoder reads JSON request bodies.
type decoder struct {
	maxBody     int64
	knownFields sync.Map // reflect.Type -> map[string]bool: see fieldNames
}

// decodeJSON reads the request body (at most the body limit) into v, a
// pointer to a struct, and returns the body as read. It refuses other media
// types before reading, anything but one JSON object, and member names that
// are not exactly a field's; every error is a problem that names the field,
// or the *http.MaxBytesError of a body over the limit. A member name given
// twice in one object is refused too (encoding/json would keep the last),
// except inside verbatimMembers.
func (d *decoder) decodeJSON(c echo.Context, v any) ([]byte, error) {
	if ct := c.Request().Header.Get("Content-Type"); ct != "" && !jsonMediaType(ct) {
		return nil, problem.UnsupportedMediaType.New("Send the body as application/json (UTF-8).")
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, d.maxBody))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, fmt.Errorf("read body: %w", maxErr)
		}
		return nil, problemMalformed("Could not read the request body.")
	}
	if p := checkObject(body); p != nil {
		return nil, p
	}
	if p := d.decodeObject(body, v); p != nil {
		return nil, p
	}
	return body, nil
}

// decodeMember decodes raw, the value of a body's member name (already
// read as valid JSON), into v exactly as decodeJSON decodes a body: a JSON
// object, member names exactly a field's, none given twice, the same type
// errors; the fields the problem names are prefixed "name.". A schedule's
// task template is decoded so, as POST /v1/tasks decodes a task.
func (d *decoder) decodeMember(name string, raw json.RawMessage, v any) *problem.Problem {
	if trimmed := bytes.TrimSpace(raw); len(trimmed) == 0 || trimmed[0] != '{' {
		return problem.Invalid(problem.FieldError{Field: name, Message: "must be an object"})
	}
	p := d.decodeObject(raw, v)
	if p != nil {
		for i := range p.Errors {
			p.Errors[i].Field = name + "." + p.Errors[i].Field
		}
	}
	return p
}

// decodeObject decodes body, a JSON object, into v: its member names must
// be v's fields', none given twice.
func (d *decoder) decodeObject(body []byte, v any) *problem.Problem {
	// One walk over the body finds its member names and repeated names; a
	// body it cannot walk is read again as before, for encoding/json's
	// account of what is wrong with it.
	top, dupes, err := memberNames(body)
	if err != nil {
		var members map[string]json.RawMessage
		if err := json.Unmarshal(body, &members); err != nil {
			return decodeProblem(err)
		}
		top = slices.Collect(maps.Keys(members))
		if dupes, err = repeatedNames(body); err != nil {
			return problemMalformed("The body could not be decoded as the expected JSON object.")
		}
	}
	if p := checkFieldNames(top, d.fieldNames(reflect.TypeOf(v).Elem())); p != nil {
		return p
	}
	if p := repeatedNamesProblem(dupes); p != nil {
		return p
	}
	if err := json.Unmarshal(body, v); err != nil {
		return decodeProblem(err)
	}
	return nil
}

// decodeOptionalJSON is decodeJSON for a body that may be left out: a
// request without one (Content-Length: 0) leaves v as it is.
func (d *decoder) decodeOptionalJSON(c echo.Context, v any) error {
	if c.Request().ContentLength == 0 {
		return nil
	}
	_, err := d.decodeJSON(c, v)
	return err
}

// checkObject refuses, before parsing, a body that cannot be a JSON object.
func checkObject(body []byte) *problem.Problem {
	trimmed := bytes.TrimSpace(body)
	switch {
	case !utf8.Valid(body):
		return problemMalformed("The body is not valid UTF-8.")
	case len(trimmed) == 0:
		return problemMalformed("The request body is empty; send a JSON object.")
	case trimmed[0] != '{':
		return problemMalformed("The body must be a JSON object.")
	}
	return nil
}

// decodeProblem turns an error of json.Unmarshal into a problem.
func decodeProblem(err error) *problem.Problem {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return syntaxProblem(syntaxErr)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return problemMalformed("The body must be a JSON object.")
		}
		return problem.Invalid(problem.FieldError{Field: field, Message: "must be " + jsonTypeName(typeErr.Type)})
	}
	return problemMalformed("The body could not be decoded as the expected JSON object.")
}

// syntaxProblem tells a truncated body and trailing data from other syntax
// errors, which json.Unmarshal all reports as *json.SyntaxError.
func syntaxProblem(err *json.SyntaxError) *problem.Problem {
	switch msg := err.Error(); {
	case msg == "unexpected end of JSON input":
		return problemMalformed("The body ends in the middle of a JSON value.")
	case strings.HasSuffix(msg, "after top-level value"):
		return problemMalformed("The body has data after the JSON object.")
	}
	return problemMalformed(fmt.Sprintf("The body is not valid JSON (at byte %d).", err.Offset))
}

// jsonTypeName names, for a client, the JSON type a Go type decodes:
// "an object of strings" only for a map of strings (headers), "an object"
// for any other map or a struct (flowControl).
func jsonTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return "an object of strings"
		}
		return "an object"
	case reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "of another type"
}

// fieldNames returns the JSON member names of struct type t, computed once
// per type.
func (d *decoder) fieldNames(t reflect.Type) map[string]bool {
	if known, ok := d.knownFields.Load(t); ok {
		return known.(map[string]bool)
	}
	known := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && f.Type.Kind() == reflect.Struct && name == "" {
			maps.Copy(known, d.fieldNames(f.Type)) // encoding/json flattens it
			continue
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		known[name] = true
	}
	d.knownFields.Store(t, known)
	return known
}

// checkFieldNames refuses top-level members that are not exactly the name
// of a field: encoding/json would accept "webhookURL" for "webhookUrl",
// hiding the client's typo.
func checkFieldNames(members []string, known map[string]bool) *problem.Problem {
	var errs []problem.FieldError
	for _, name := range slices.Compact(slices.Sorted(slices.Values(members))) {
		if !known[name] {
			errs = append(errs, problem.FieldError{Field: name, Message: "unknown field"})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	return problem.Invalid(errs...)
}

func problemMalformed(detail string) *problem.Problem { return problem.Malformed.New(detail) }

// repeatedNamesProblem refuses a body, valid JSON, in which an object names
// a member twice (dupes, from repeatedNames), outside verbatimMembers:
// which one counts would be a guess.
func repeatedNamesProblem(dupes []string) *problem.Problem {
	if len(dupes) == 0 {
		return nil
	}
	sort.Strings(dupes)
	dupes = slices.Compact(dupes)
	errs := make([]problem.FieldError, len(dupes))
	for i, path := range dupes {
		errs[i] = problem.FieldError{Field: path, Message: "is given more than once in its object: send it once"}
	}
	return problem.Invalid(errs...)
}

// jsonMediaType reports whether a request's Content-Type is JSON in UTF-8:
// application/json or a +json type, with no charset or charset=utf-8.
// "application/jsonp" or a UTF-16 charset would be read as what they are
// not.
func jsonMediaType(ct string) bool {
	_, params, err := mime.ParseMediaType(ct)
	if err != nil || !broker.IsJSONContentType(ct) {
		return false
	}
	charset, ok := params["charset"]
	return !ok || strings.EqualFold(charset, "utf-8")
}
