package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"

	"github.com/boomerang-dev/boomerang/client"
)

// Exit codes of the API commands (boomerang task …, boomerang key …), for
// scripts.
const (
	exitOK          = 0 // done
	exitUsage       = 1 // a command, flag or argument that is wrong, or no server or key
	exitAPI         = 2 // the server refused the request: its problem is printed
	exitTaskFailed  = 3 // wait: the task failed or was canceled
	exitUnreachable = 4 // the server could not be reached, or answered nothing usable
	exitWaitTimeout = 5 // wait: --timeout passed before the task finished
)

// apiCLI runs the commands that call the API through the client package.
type apiCLI struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	// httpClient sends the requests (nil: the client package's default).
	httpClient *http.Client
}

// runAPICommand is `boomerang task …`, `boomerang key …` and `boomerang
// schedules …`.
func runAPICommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return (&apiCLI{getenv: os.Getenv, stdout: stdout, stderr: stderr}).run(ctx, args)
}

// apiCommand is one command: its positional arguments and what it does
// once its flags (which define adds to fs) are parsed.
type apiCommand struct {
	args     string // for the usage line, such as "ID"
	min, max int    // how many positional arguments it takes
	summary  string
	define   func(fs *flag.FlagSet) runFunc
}

type runFunc func(ctx context.Context, call *apiCall) error

// apiCall is what a command runs with.
type apiCall struct {
	client *client.Client
	args   []string
	json   bool
	out    io.Writer
}

// exitError ends a command with an exit code, its message printed unless
// empty.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

func (c *apiCLI) run(ctx context.Context, args []string) int {
	if len(args) < 2 || apiCommands[args[0]+" "+args[1]].define == nil {
		c.usage(args)
		return exitUsage
	}
	name := args[0] + " " + args[1]
	cmd := apiCommands[name]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	serverURL := fs.String("url", "", "the server's URL (BOOMERANG_URL; default http://localhost:8080)")
	apiKey := fs.String("api-key", "", "the API key (BOOMERANG_API_KEY)")
	asJSON := fs.Bool("json", false, "print JSON, for scripts")
	runCmd := cmd.define(fs)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage: boomerang %s [flags] %s\n\n%s\n\nFlags:\n", name, cmd.args, cmd.summary)
		fs.PrintDefaults()
	}
	rest, err := parseInterspersed(fs, args[2:])
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage // the flag package printed why
	}
	if len(rest) < cmd.min || len(rest) > cmd.max {
		fs.Usage()
		return exitUsage
	}
	cl, err := c.newClient(*serverURL, *apiKey)
	if err != nil {
		return c.exit(err)
	}
	return c.exit(runCmd(ctx, &apiCall{client: cl, args: rest, json: *asJSON, out: c.stdout}))
}

// newClient returns a client of the server the flags or the environment
// name; the flags win.
func (c *apiCLI) newClient(serverURL, apiKey string) (*client.Client, error) {
	if serverURL == "" {
		serverURL = c.getenv("BOOMERANG_URL")
	}
	if serverURL == "" {
		serverURL = "http://localhost:8080"
	}
	if apiKey == "" {
		apiKey = c.getenv("BOOMERANG_API_KEY")
	}
	if apiKey == "" {
		return nil, usageErr("no API key: set BOOMERANG_API_KEY or give --api-key")
	}
	var opts []client.Option
	if c.httpClient != nil {
		opts = append(opts, client.WithHTTPClient(c.httpClient))
	}
	cl, err := client.New(serverURL, apiKey, opts...)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return cl, nil
}

// exit prints what ended a command and returns its exit code.
func (c *apiCLI) exit(err error) int {
	var ee *exitError
	var p *client.Problem
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintln(c.stderr, "boomerang:", ee.msg)
		}
		return ee.code
	case errors.As(err, &p):
		fmt.Fprintln(c.stderr, p.Error())
		return exitAPI
	case errors.Is(err, context.Canceled):
		return exitOK // interrupted: what came before is printed
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "boomerang: ") {
		msg = "boomerang: " + msg
	}
	fmt.Fprintln(c.stderr, msg)
	return exitUnreachable
}

// usage lists the API commands.
func (c *apiCLI) usage(args []string) {
	if len(args) >= 2 {
		fmt.Fprintf(c.stderr, "boomerang: unknown command %q\n\n", strings.Join(args[:2], " "))
	}
	names := make([]string, 0, len(apiCommands))
	for name := range apiCommands {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintln(c.stderr, "Usage:")
	for _, name := range names {
		cmd := apiCommands[name]
		fmt.Fprintf(c.stderr, "  boomerang %-16s %-12s %s\n", name, cmd.args, cmd.summary)
	}
	fmt.Fprint(c.stderr, `
Every command takes --url (BOOMERANG_URL), --api-key (BOOMERANG_API_KEY) and
--json; -h shows its flags. Exit codes: 0 done; 1 a wrong command, flag or
argument, or no API key; 2 the server refused (its problem is printed);
3 wait: the task failed or was canceled; 4 the server could not be reached;
5 wait: --timeout passed first.
`)
}

// parseInterspersed parses fs's flags wherever they are among the
// positional arguments, which it returns ("--" ends the flags).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		parsed := len(args) - len(fs.Args())
		if parsed > 0 && args[parsed-1] == "--" {
			return append(rest, fs.Args()...), nil
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

// printJSON prints v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
