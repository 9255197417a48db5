package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// errUsage is returned after a flag error has been printed.
var errUsage = errors.New("usage")

// parseFlags parses args into fs; every flag not given on the command line
// takes its value from BOOMERANG_<NAME> (dashes as underscores) when set.
// It returns flag.ErrHelp after printing the help that -h asked for, and
// errUsage after printing a flag error.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return flag.ErrHelp
		}
		return errUsage
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", name, serr)
			}
		}
	})
	return err
}

func envName(flagName string) string {
	return "BOOMERANG_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
