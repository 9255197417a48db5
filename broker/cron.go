package broker

import (
	"errors"
	"time"

	"github.com/robfig/cron/v3"
)

// cronParser reads 6-field cron patterns (seconds first; Boomerang's
// 5-field patterns get "0 " in front) and the @hourly-style descriptors.
var cronParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cronSpec is a parsed cron pattern.
type cronSpec struct{ schedule cron.Schedule }

// parseCronSpec parses a 6-field cron pattern.
func parseCronSpec(pattern string) (cronSpec, error) {
	s, err := cronParser.Parse(pattern)
	if err != nil {
		return cronSpec{}, err
	}
	return cronSpec{schedule: s}, nil
}

// errCronNever says a pattern matches no time (robfig/cron gives up after
// five years and answers the zero time).
var errCronNever = errors.New("the pattern matches no time within five years")

// next returns the first time after t (to the second) that the pattern
// matches on loc's wall clock.
func (c cronSpec) next(t time.Time, loc *time.Location) (time.Time, error) {
	n := c.schedule.Next(t.In(loc))
	if n.IsZero() {
		return time.Time{}, errCronNever
	}
	return n, nil
}
