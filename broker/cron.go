// Copied from nats-server v2.15.2, server/cron.go (parseCron split into
// parseCronSpec and cronSpec.next; otherwise unchanged).
//
// Copyright 2025-2026 The NATS Authors
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.
//
// Based on code from https://github.com/robfig/cron
// Copyright (C) 2012 Rob Figueiredo
// All Rights Reserved.
//
// MIT LICENSE
//
// Permission is hereby granted, free of charge, to any person obtaining a copy of
// this software and associated documentation files (the "Software"), to deal in
// the Software without restriction, including without limitation the rights to
// use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of
// the Software, and to permit persons to whom the Software is furnished to do so,
// subject to the following conditions:
//
// The above copyright notice and this permission notice shall be included in all
// copies or substantial portions of the Software.
//
// THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
// IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS
// FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
// COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
// IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
// CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

package broker

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// cronSpec is a parsed 6-field cron pattern (seconds first), as the NATS
// server's message schedules read it: the same parser (nats-server's
// server/cron.go, itself from robfig/cron), so that a pattern Boomerang
// accepts is one NATS accepts, and fires at the same times.
type cronSpec struct {
	second, minute, hour, dayOfMonth, month, dayOfWeek uint64
}

// parseCronSpec parses a 6-field cron pattern.
func parseCronSpec(pattern string) (cronSpec, error) {
	fields := strings.Fields(pattern)
	if len(fields) != 6 {
		return cronSpec{}, fmt.Errorf("pattern requires 6 fields, got %d", len(fields))
	}
	var c cronSpec
	var err error
	if c.second, err = cronField(fields[0], cronSeconds); err != nil {
		return cronSpec{}, err
	}
	if c.minute, err = cronField(fields[1], cronMinutes); err != nil {
		return cronSpec{}, err
	}
	if c.hour, err = cronField(fields[2], cronHours); err != nil {
		return cronSpec{}, err
	}
	if c.dayOfMonth, err = cronField(fields[3], cronDom); err != nil {
		return cronSpec{}, err
	}
	if c.month, err = cronField(fields[4], cronMonths); err != nil {
		return cronSpec{}, err
	}
	if c.dayOfWeek, err = cronField(fields[5], cronDow); err != nil {
		return cronSpec{}, err
	}
	return c, nil
}

// next returns the first time after t (to the second) that the pattern
// matches in loc, or an error when none comes within five years.
func (c cronSpec) next(t time.Time, loc *time.Location) (time.Time, error) {
	second, minute, hour, dayOfMonth, month, dayOfWeek := c.second, c.minute, c.hour, c.dayOfMonth, c.month, c.dayOfWeek
	// General approach
	//
	// For Month, Day, Hour, Minute, Second:
	// Check if the time value matches. If yes, continue to the next field.
	// If the field doesn't match the schedule, then increment the field until it matches.
	// While incrementing the field, a wrap-around brings it back to the beginning
	// of the field list (since it is necessary to re-verify previous field values)
	next := t.In(loc)

	// Start at the earliest possible time (the upcoming second).
	next = next.Truncate(time.Second).Add(time.Second)

	// This flag indicates whether a field has been truncated at one point.
	truncated := false

	// If no time is found within five years, return error.
	yearLimit := next.Year() + 5

WRAP:
	if next.Year() > yearLimit {
		return time.Time{}, errors.New("pattern exceeds maximum range")
	}
	for 1<<uint(next.Month())&month == 0 {
		if !truncated {
			truncated = true
			next = time.Date(next.Year(), next.Month(), 1, 0, 0, 0, 0, loc)
		}
		if next = next.AddDate(0, 1, 0); next.Month() == time.January {
			goto WRAP
		}
	}
	for !cronDayMatches(dayOfMonth, dayOfWeek, next) {
		if !truncated {
			truncated = true
			next = time.Date(next.Year(), next.Month(), next.Day(), 0, 0, 0, 0, loc)
		}
		if next = next.AddDate(0, 0, 1); next.Day() == 1 {
			goto WRAP
		}
	}
	for 1<<uint(next.Hour())&hour == 0 {
		if !truncated {
			truncated = true
			next = time.Date(next.Year(), next.Month(), next.Day(), next.Hour(), 0, 0, 0, loc)
		}
		if next = next.Add(time.Hour); next.Hour() == 0 {
			goto WRAP
		}
	}
	for 1<<uint(next.Minute())&minute == 0 {
		if !truncated {
			truncated = true
			next = next.Truncate(time.Minute)
		}
		if next = next.Add(time.Minute); next.Minute() == 0 {
			goto WRAP
		}
	}
	for 1<<uint(next.Second())&second == 0 {
		if !truncated {
			truncated = true
			next = next.Truncate(time.Second)
		}
		if next = next.Add(time.Second); next.Second() == 0 {
			goto WRAP
		}
	}
	return next, nil
}

// cronField returns an Int with the bits set representing all of the times that
// the field represents or error parsing field value.  A "field" is a comma-separated
// list of "ranges".
func cronField(field string, r cronBounds) (uint64, error) {
	var bits uint64
	ranges := strings.FieldsFuncSeq(field, func(r rune) bool { return r == ',' })
	for expr := range ranges {
		bit, err := cronRange(expr, r)
		if err != nil {
			return bits, err
		}
		bits |= bit
	}
	return bits, nil
}

// cronRange returns the bits indicated by the given expression: number | number [ "-" number ] [ "/" number ]
// or error parsing range.
func cronRange(expr string, r cronBounds) (uint64, error) {
	var (
		start, end, step uint
		rangeAndStep     = strings.Split(expr, "/")
		lowAndHigh       = strings.Split(rangeAndStep[0], "-")
		singleDigit      = len(lowAndHigh) == 1
		err              error
	)

	var extra uint64
	if lowAndHigh[0] == "*" || lowAndHigh[0] == "?" {
		start = r.min
		end = r.max
		extra = cronStarBit
	} else {
		start, err = cronIntOrName(lowAndHigh[0], r.names)
		if err != nil {
			return 0, err
		}
		switch len(lowAndHigh) {
		case 1:
			end = start
		case 2:
			end, err = cronIntOrName(lowAndHigh[1], r.names)
			if err != nil {
				return 0, err
			}
		default:
			return 0, fmt.Errorf("too many hyphens: %s", expr)
		}
	}

	switch len(rangeAndStep) {
	case 1:
		step = 1
	case 2:
		step, err = cronInt(rangeAndStep[1])
		if err != nil {
			return 0, err
		}
		// Special handling: "N/step" means "N-max/step".
		if singleDigit {
			end = r.max
		}
		if step > 1 {
			extra = 0
		}
	default:
		return 0, fmt.Errorf("too many slashes: %s", expr)
	}

	if start < r.min {
		return 0, fmt.Errorf("beginning of range (%d) below minimum (%d): %s", start, r.min, expr)
	}
	if end > r.max {
		return 0, fmt.Errorf("end of range (%d) above maximum (%d): %s", end, r.max, expr)
	}
	if start > end {
		return 0, fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
	}
	if step == 0 {
		return 0, fmt.Errorf("step of range should be a positive number: %s", expr)
	}
	return cronBits(start, end, step) | extra, nil
}

// cronIntOrName returns the (possibly-named) integer contained in expr.
func cronIntOrName(expr string, names map[string]uint) (uint, error) {
	if names != nil {
		if namedInt, ok := names[strings.ToLower(expr)]; ok {
			return namedInt, nil
		}
	}
	return cronInt(expr)
}

// cronInt parses the given expression as an int or returns an error.
func cronInt(expr string) (uint, error) {
	num, err := strconv.Atoi(expr)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %s", expr, err)
	}
	if num < 0 {
		return 0, fmt.Errorf("negative number (%d) not allowed: %s", num, expr)
	}
	return uint(num), nil
}

// cronBits sets all bits in the range [min, max], modulo the given step size.
func cronBits(min, max, step uint) uint64 {
	var bits uint64

	// If step is 1, use shifts.
	if step == 1 {
		return ^(math.MaxUint64 << (max + 1)) & (math.MaxUint64 << min)
	}

	// Else, use a simple loop.
	for i := min; i <= max; i += step {
		bits |= 1 << i
	}
	return bits
}

// cronBounds provides a range of acceptable values (plus a map of name to value).
type cronBounds struct {
	min, max uint
	names    map[string]uint
}

// The cronBounds for each field.
var (
	cronSeconds = cronBounds{0, 59, nil}
	cronMinutes = cronBounds{0, 59, nil}
	cronHours   = cronBounds{0, 23, nil}
	cronDom     = cronBounds{1, 31, nil}
	cronMonths  = cronBounds{1, 12, map[string]uint{
		"jan": 1,
		"feb": 2,
		"mar": 3,
		"apr": 4,
		"may": 5,
		"jun": 6,
		"jul": 7,
		"aug": 8,
		"sep": 9,
		"oct": 10,
		"nov": 11,
		"dec": 12,
	}}
	cronDow = cronBounds{0, 6, map[string]uint{
		"sun": 0,
		"mon": 1,
		"tue": 2,
		"wed": 3,
		"thu": 4,
		"fri": 5,
		"sat": 6,
	}}
)

const (
	// Set the top bit if a star was included in the expression.
	cronStarBit = 1 << 63
)

// cronDayMatches returns true if the schedule's day-of-week and day-of-month
// restrictions are satisfied by the given time.
func cronDayMatches(dayOfMonth, dayOfWeek uint64, t time.Time) bool {
	var (
		domMatch = 1<<uint(t.Day())&dayOfMonth > 0
		dowMatch = 1<<uint(t.Weekday())&dayOfWeek > 0
	)
	if dayOfMonth&cronStarBit > 0 || dayOfWeek&cronStarBit > 0 {
		return domMatch && dowMatch
	}
	return domMatch || dowMatch
}
