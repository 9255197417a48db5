package broker

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// A schedule makes tasks from a template: at each time its cron pattern
// (in its time zone) or its interval names. See schedules_store.go for
// where a schedule is kept, and schedules_fire.go for how it fires.

// ScheduleStatus is whether a schedule fires.
type ScheduleStatus string

// Schedule statuses.
const (
	ScheduleActive ScheduleStatus = "active"
	SchedulePaused ScheduleStatus = "paused"
)

// MinScheduleEvery is the shortest interval a schedule may have: the
// shortest NATS message schedules allow.
const MinScheduleEvery = time.Second

// MaxScheduleEvery is the longest interval a schedule may have, a leap
// year: beyond it, use a cron pattern (a yearly one is @yearly).
const MaxScheduleEvery = 366 * 24 * time.Hour

// Errors of schedules, for the API to tell the client.
var (
	// ErrScheduleNotFound is returned for a schedule the tenant does not have.
	ErrScheduleNotFound = errors.New("broker: schedule not found")
	// ErrScheduleInvalid wraps what is wrong with a schedule's timing.
	ErrScheduleInvalid = errors.New("broker: invalid schedule")
	// ErrTooManySchedules is returned when a tenant creating a schedule
	// already keeps as many as it may (Schedules.MaxPerTenant).
	ErrTooManySchedules = errors.New("broker: too many schedules")
)

// ScheduleTiming is when a schedule fires: Cron (five fields, minute
// first, in Timezone, UTC when empty) or Every (an interval), not both.
type ScheduleTiming struct {
	Cron     string        `json:"cron,omitempty"`
	Timezone string        `json:"timezone,omitempty"`
	Every    time.Duration `json:"every,omitempty"`
}

// Schedule is a schedule as it is kept and returned.
type Schedule struct {
	ID       string `json:"id"`
	TenantID string `json:"tenantId"`
	ScheduleTiming
	// Task is the template of the tasks it creates; its IdempotencyKey
	// and NotBefore are not used (each firing sets its own key).
	Task      Spec           `json:"task"`
	Status    ScheduleStatus `json:"status"`
	CreatedAt time.Time      `json:"createdAt"`
	UpdatedAt time.Time      `json:"updatedAt"`
	// NextFiringAt is when it fires next; nil while paused.
	NextFiringAt *time.Time `json:"nextFiringAt,omitempty"`
	// Anchor is the second an interval counts from: its firings fall on
	// Anchor + k·Every. Set at creation and at each change of the timing,
	// so that other changes (of the template, a pause) keep the phase.
	// Zero in schedules kept before it: their intervals count from now.
	Anchor time.Time `json:"anchor,omitzero"`
	// Revision is the stream sequence of the schedule's current state:
	// a firing made for an older one is dropped.
	Revision uint64 `json:"-"`
	// LastFiring is the latest firing handled, if any (kept apart from the
	// schedule's state: see noteFiring).
	LastFiring *ScheduleFiring `json:"-"`
}

// ScheduleFiring is what one firing of a schedule came to: the task it
// made, or why it made none.
type ScheduleFiring struct {
	// At is the firing's time.
	At time.Time `json:"at"`
	// TaskID is the task it made.
	TaskID string `json:"taskId,omitempty"`
	// Skipped says why it made no task (the tenant's quota was spent, or
	// the tenant suspended).
	Skipped string `json:"skipped,omitempty"`
}

// NewScheduleID returns a schedule id, "sch_" and 26 base32 characters
// (sorting by creation time, like task ids).
func NewScheduleID() string {
	return "sch_" + strings.TrimPrefix(newTaskID(time.Now()), "tsk_")
}

// ValidScheduleID reports whether s can be a schedule id.
func ValidScheduleID(s string) bool {
	return strings.HasPrefix(s, "sch_") && ValidToken(s)
}

// firing is a schedule's compiled timing: what computes its firing times.
type firing struct {
	cron   cronSpec
	loc    *time.Location
	every  time.Duration
	anchor time.Time // an interval's phase (zero: whole seconds from now)
}

// firing compiles the schedule's timing with its interval's anchor.
func (sc *Schedule) firing() (firing, error) {
	f, err := sc.compile()
	f.anchor = sc.Anchor
	return f, err
}

// compile checks the timing and returns what computes its times. A cron
// pattern has five fields (minute first; NATS's seconds field is 0) or is
// one of @yearly, @annually, @monthly, @weekly, @daily, @midnight,
// @hourly; the time zone is an IANA name. Errors are *TimingError.
func (s ScheduleTiming) compile() (firing, error) {
	switch {
	case s.Cron != "" && s.Every != 0:
		return firing{}, timingError("every", "give cron or every, not both")
	case s.Every != 0:
		if s.Timezone != "" {
			return firing{}, timingError("timezone", "applies to cron only")
		}
		switch {
		case s.Every < MinScheduleEvery:
			return firing{}, timingError("every", "must be at least 1s")
		case s.Every > MaxScheduleEvery:
			return firing{}, timingError("every", "must be at most 8784h (366 days); use cron for longer periods")
		case s.Every%time.Second != 0:
			// Interval times fall on whole seconds (see next).
			return firing{}, timingError("every", "must be a whole number of seconds, like 90s")
		}
		return firing{every: s.Every}, nil
	case s.Cron == "":
		return firing{}, timingError("cron", "give cron or every")
	}
	pattern, err := natsCron(s.Cron)
	if err != nil {
		return firing{}, timingError("cron", err.Error())
	}
	spec, err := parseCronSpec(pattern)
	if err != nil {
		return firing{}, timingError("cron", cronMistake)
	}
	loc := time.UTC
	if s.Timezone != "" {
		if loc, err = time.LoadLocation(s.Timezone); err != nil || s.Timezone == "Local" {
			return firing{}, timingError("timezone", "is not an IANA time zone name, like Europe/Paris")
		}
	}
	f := firing{cron: spec, loc: loc}
	if _, err := f.next(time.Now()); err != nil {
		return firing{}, timingError("cron", "never matches within five years")
	}
	return f, nil
}

// Validate checks a schedule's timing: nil, or a *TimingError.
func (s ScheduleTiming) Validate() error {
	_, err := s.compile()
	return err
}

// TimingError is what is wrong with a schedule's timing, and in which
// field (cron, timezone or every). It wraps ErrScheduleInvalid.
type TimingError struct {
	Field, Message string
}

func timingError(field, message string) *TimingError {
	return &TimingError{Field: field, Message: message}
}

func (e *TimingError) Error() string {
	return "broker: invalid schedule: " + e.Field + " " + e.Message
}

// Unwrap makes a TimingError an ErrScheduleInvalid.
func (e *TimingError) Unwrap() error { return ErrScheduleInvalid }

// natsCron turns a five-field pattern into NATS's six (seconds first), and
// a predefined one into its six fields.
func natsCron(pattern string) (string, error) {
	switch pattern {
	case "@yearly", "@annually":
		return "0 0 0 1 1 *", nil
	case "@monthly":
		return "0 0 0 1 * *", nil
	case "@weekly":
		return "0 0 0 * * 0", nil
	case "@daily", "@midnight":
		return "0 0 0 * * *", nil
	case "@hourly":
		return "0 0 * * * *", nil
	}
	if strings.HasPrefix(pattern, "@every") {
		return "", errors.New("@every is not a cron pattern: give the schedule's every field instead, like \"every\": \"5m\"")
	}
	fields := strings.Fields(pattern)
	if n := len(fields); n != 5 {
		return "", fmt.Errorf("must have 5 fields (minute hour day-of-month month day-of-week), got %d", n)
	}
	fields[4] = sundayAsZero(fields[4])
	return "0 " + strings.Join(fields, " "), nil
}

// cronMistake is what a pattern that does not parse is told: the
// parser's own words name Go functions, not the pattern's mistake.
const cronMistake = "is not a cron pattern this server reads: each of the 5 fields (minute hour " +
	"day-of-month month day-of-week) is *, a number, a range (1-5), a list (1,15), a step (*/10) " +
	"or a name (JAN, MON); L, W, # and ? are not supported"

// sundayAsZero reads a day-of-week 7 as Sunday, as Vixie cron does (the
// parser knows only 0): in a list, and at the end of a range (5-7 is
// 5-6 and 0).
func sundayAsZero(dow string) string {
	parts := strings.Split(dow, ",")
	for i, p := range parts {
		switch {
		case p == "7":
			parts[i] = "0"
		case strings.HasSuffix(p, "-7") && !strings.Contains(p, "/"):
			parts[i] = strings.TrimSuffix(p, "-7") + "-6,0"
		}
	}
	return strings.Join(parts, ",")
}

// next returns the first firing time strictly after t. An interval's
// times are its anchor plus whole intervals (the anchor is a whole second,
// the interval whole seconds): a change that keeps the timing keeps them.
// Whole seconds, so that schedules due in the same second fire together:
// the server looks for due schedules at most every 250 ms, and times
// spread over the second would each wait for the next look.
// Without an anchor (a schedule kept before anchors), the first is every
// after the second t is in.
func (f firing) next(t time.Time) (time.Time, error) {
	if f.every > 0 && !f.anchor.IsZero() {
		if t.Before(f.anchor) {
			return f.anchor.UTC(), nil
		}
		return f.anchor.Add((t.Sub(f.anchor)/f.every + 1) * f.every).UTC(), nil
	}
	if f.every > 0 {
		return t.Truncate(time.Second).Add(f.every).UTC(), nil
	}
	n, err := f.cron.next(t, f.loc)
	return n.UTC(), err
}

// nextAfter returns the firing that follows the one at last, skipping
// those that have passed by now: after an outage a schedule fires once,
// late, for what it missed (the firing that came late), not once per
// missed time. An interval keeps its phase.
func (f firing) nextAfter(last, now time.Time) (time.Time, error) {
	n, err := f.next(last)
	if err != nil || !n.Before(now) {
		return n, err
	}
	if f.every > 0 {
		missed := now.Sub(n)/f.every + 1
		return n.Add(missed * f.every), nil
	}
	return f.next(now)
}
