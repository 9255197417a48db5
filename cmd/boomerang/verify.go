package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/boomerang-dev/boomerang/signing"
)

// runVerify is `boomerang verify --secret whsec_...`. It reads a received
// webhook from stdin — a raw HTTP request as `nc -l` captures it, or just the
// body when --id, --timestamp and --signature are given — and exits 0 only
// when the signature and the timestamp are valid.
func runVerify(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secretText := fs.String("secret", "", "the signing secret, whsec_...")
	id := fs.String("id", "", "webhook-id header (then stdin is the body only)")
	timestamp := fs.String("timestamp", "", "webhook-timestamp header")
	signature := fs.String("signature", "", "webhook-signature header")
	tolerance := fs.Duration("tolerance", signing.DefaultTolerance, "accepted clock difference")
	if err := parseFlags(fs, args, os.Getenv); err != nil {
		return 2
	}
	secret, err := signing.ParseSecret(*secretText)
	if err != nil {
		fmt.Fprintln(stderr, "boomerang verify: --secret must be a whsec_ secret")
		return 2
	}
	var header http.Header
	var body []byte
	if *id != "" || *timestamp != "" || *signature != "" {
		header = http.Header{}
		header.Set(signing.HeaderID, *id)
		header.Set(signing.HeaderTimestamp, *timestamp)
		header.Set(signing.HeaderSignature, *signature)
		if body, err = io.ReadAll(stdin); err != nil {
			fmt.Fprintln(stderr, "boomerang verify: reading the body:", err)
			return 2
		}
	} else {
		req, err := http.ReadRequest(bufio.NewReader(stdin))
		if err != nil {
			fmt.Fprintln(stderr, "boomerang verify: stdin is not an HTTP request (or give --id, --timestamp and --signature):", err)
			return 2
		}
		header = req.Header
		if body, err = io.ReadAll(req.Body); err != nil {
			fmt.Fprintln(stderr, "boomerang verify: reading the body:", err)
			return 2
		}
	}
	v := signing.Verifier{Secrets: []signing.Secret{secret}, Tolerance: *tolerance}
	if err := v.Verify(header, body, time.Now()); err != nil {
		fmt.Fprintln(stdout, "invalid:", err)
		return 1
	}
	fmt.Fprintln(stdout, "valid: webhook-id", header.Get(signing.HeaderID))
	return 0
}
