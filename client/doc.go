// Package client is the Go client of the Boomerang API: create tasks, read
// them, wait for them to finish (long-polling), follow their events
// (Server-Sent Events, resumed after a dropped connection), list them
// with an iterator, cancel, replay and redeliver them, and manage the
// tenant's API keys and signing secret.
//
// Every method takes a context and returns the API's errors as a
// *Problem (RFC 9457), which errors.As finds:
//
//	c, err := client.New("http://localhost:8080", os.Getenv("BOOMERANG_API_KEY"))
//	task, err := c.CreateTask(ctx, "https://api.example.com/reports",
//		client.WithPayload(map[string]any{"month": "2026-01"}),
//		client.WithWebhook("https://app.example.com/hooks/boomerang"))
//	var p *client.Problem
//	if errors.As(err, &p) && p.Kind() == client.KindRateLimited {
//		time.Sleep(p.RetryAfter)
//	}
//
// The package depends on the standard library only. To verify the
// webhooks Boomerang sends, use package
// github.com/boomerang-dev/boomerang/signing.
package client
