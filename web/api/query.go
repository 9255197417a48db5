package api

import (
	"net/url"
	"slices"
	"sort"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/web/problem"
)

// checkQuery refuses what a route would otherwise ignore in its query
// string: one that does not parse (a % not followed by two hex digits, a
// semicolon), a parameter the route does not take (names are
// case-sensitive, as body fields are), and a parameter given more than
// once. allowed are the route's parameters.
func checkQuery(c echo.Context, allowed ...string) error {
	values, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return problem.Malformed.New("The query string does not parse: percent-encode %, & and ; in values (%25, %26, %3B).")
	}
	var errs []problem.FieldError
	for name, vs := range values {
		switch {
		case !slices.Contains(allowed, name):
			errs = append(errs, problem.FieldError{Field: name, Message: "is not a query parameter of this route"})
		case len(vs) > 1:
			errs = append(errs, problem.FieldError{Field: name, Message: "is given more than once: send it once"})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	return problem.Invalid(errs...)
}
