// Command boomerang is the Boomerang task broker: `serve` runs a node,
// `tenant create` creates a tenant through the admin API, `verify` checks a
// received webhook's signature, `task` and `key` work with a tenant's
// tasks and API keys through the client package.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `Boomerang, a broker for slow HTTP calls.

Usage:
  boomerang serve [flags]              run a node (see boomerang serve -h)
  boomerang tenant create NAME [flags] create a tenant through the admin API
  boomerang verify --secret whsec_...  verify a received webhook
  boomerang bench [flags]              measure a server (see boomerang bench -h)
  boomerang task create|get|wait|cancel|list|tail|redeliver|replay ...
                                       work with tasks (see boomerang task)
  boomerang key create|list|revoke ... manage API keys (see boomerang key)
  boomerang schedules create|list|get|tasks|pause|resume|delete ...
                                       work with schedules (see boomerang schedules)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs the subcommand in args and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "tenant":
		err = runTenant(ctx, args[1:], stdout, stderr)
	case "bench":
		err = runBench(ctx, args[1:], stdout, stderr)
	case "verify":
		return runVerify(args[1:], stdin, stdout, stderr)
	case "task", "key", "schedules":
		return runAPICommand(ctx, args, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "boomerang: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0 // the help asked for is printed
	case errors.Is(err, errUsage):
		return 1 // the flag error is printed
	case err != nil:
		fmt.Fprintln(stderr, "boomerang:", err)
		return 1
	}
	return 0
}
