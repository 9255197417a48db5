package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// requestSecrets are what a tenant puts in a task that a status token's
// holder must never read: credentials in headers, in the target URL's path
// and query, in the payload, in the webhook URL, and the idempotency key.
var requestSecrets = []string{
	"sk_live_HEADERSECRET0001", "HEADERSECRET0002", "PATHSECRET0003", "QUERYSECRET0004", "QUERYSECRET0005",
	"PAYLOADSECRET0006", "PAYLOADSECRET0007", "HOOKPATHSECRET0008", "HOOKQUERYSECRET0009", "IDEMSECRET0010",
}

// secretTask is a task carrying every one of requestSecrets.
func secretTask(target, receiver string, delay int) map[string]any {
	return map[string]any{
		"targetUrl":  target + "/charge/PATHSECRET0003?api_key=QUERYSECRET0004&session=QUERYSECRET0005",
		"headers":    map[string]string{"Authorization": "Bearer sk_live_HEADERSECRET0001", "X-Api-Key": "HEADERSECRET0002"},
		"payload":    map[string]any{"card": "PAYLOADSECRET0006", "nested": map[string]any{"pin": "PAYLOADSECRET0007"}},
		"webhookUrl": receiver + "/hooks/HOOKPATHSECRET0008?token=HOOKQUERYSECRET0009",
		"retries":    3,
		"delay":      delay,
	}
}

// leaks returns each secret found in the answer's body or headers, in any
// of the encodings a body or header could carry it in.
func leaks(status int, header http.Header, body []byte) []string {
	var found []string
	for _, secret := range requestSecrets {
		quoted, _ := json.Marshal(secret)
		forms := []string{secret, string(quoted[1 : len(quoted)-1]), url.QueryEscape(secret), url.PathEscape(secret), strings.ToLower(secret)}
		hit := func(s string) bool {
			return slices.ContainsFunc(forms, func(f string) bool { return strings.Contains(s, f) || strings.Contains(strings.ToLower(s), f) })
		}
		if hit(string(body)) {
			found = append(found, secret+" in the body")
		}
		for name, values := range header {
			for _, v := range values {
				if hit(name + ": " + v) {
					found = append(found, secret+" in "+name)
				}
			}
		}
	}
	return found
}

// publicFields are the only properties of a task a status token reads.
var publicFields = []string{"id", "status", "createdAt", "updatedAt", "finishedAt", "nextAttemptAt", "attemptCount", "attempts", "result"}

// TestStatusTokenSeesOnlyThePublicView reads a task full of secrets with its
// status token on every route a token may use, in both ways a token is
// sent, finished and pending, successes and errors, and the event streams;
// no answer may carry any of the secrets, in its body or its headers. The
// API key still reads everything.
func TestStatusTokenSeesOnlyThePublicView(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	client, creds := env.Tenant(t, "acme")
	target := testenv.NewTarget(t, webtest.Answer(503, 200))
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	receiver.Answer(http.StatusInternalServerError) // every delivery fails: the webhook goes dead
	created := func(body map[string]any, headers ...string) (id, token string) {
		r := client.Do(t, http.MethodPost, "/v1/tasks", body, headers...)
		var c struct{ ID, StatusToken string }
		r.JSON(t, &c)
		if r.Status != http.StatusAccepted || c.StatusToken == "" {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		return c.ID, c.StatusToken
	}
	done, doneToken := created(secretTask(target.URL, receiver.URL, 0), "Idempotency-Key", "IDEMSECRET0010")
	waiting, waitingToken := created(secretTask(target.URL, receiver.URL, 3600))
	full := webtest.WaitTask(t, client, done, 30*time.Second, func(task broker.Task) bool {
		return task.Settled() && len(task.Attempts) == 2 && task.Webhook.Status == broker.WebhookDead
	})
	if !strings.Contains(full.TargetURL, "QUERYSECRET0004") || full.Headers["X-Api-Key"] != "HEADERSECRET0002" ||
		!strings.Contains(string(full.Payload), "PAYLOADSECRET0006") || !strings.Contains(full.WebhookURL, "HOOKQUERYSECRET0009") {
		t.Fatalf("the API key no longer reads the whole task: %+v", full)
	}

	read := 0
	check := func(name string, status int, header http.Header, body []byte) {
		t.Helper()
		read++
		for _, leak := range leaks(status, header, body) {
			t.Errorf("%s (%d) leaks %s: %s", name, status, leak, body)
		}
	}
	for _, task := range []struct{ id, token string }{{done, doneToken}, {waiting, waitingToken}} {
		bearer, anon := env.Client(t, task.token), env.Client(t, "")
		q := "?token=" + task.token
		for _, path := range []string{
			"/v1/tasks/" + task.id, "/v1/tasks/" + task.id + "/status", "/v1/tasks/" + task.id + "/result",
			"/v1/tasks/" + task.id + "?wait=nonsense", "/v1/tasks/" + task.id + "/events?lastEventId=99999999",
			"/v1/tasks/" + done + "x", "/v1/tasks/" + other(task.id, done, waiting),
		} {
			r := bearer.Do(t, http.MethodGet, path, nil)
			check("GET "+path+" (Bearer)", r.Status, r.Header, r.Body)
			r = anon.Do(t, http.MethodGet, path+strings.Replace(q, "?", sep(path), 1), nil)
			check("GET "+path+" (?token=)", r.Status, r.Header, r.Body)
			if path == "/v1/tasks/"+task.id {
				wantPublic(t, r.Body)
			}
		}
		// A long-poll answers at once when the version differs.
		r := bearer.Do(t, http.MethodGet, "/v1/tasks/"+task.id+"?wait=30s", nil, "If-None-Match", `"0"`)
		check("long-poll", r.Status, r.Header, r.Body)
		wantPublic(t, r.Body)
		// Writes are refused without a word about the task.
		for _, m := range []string{http.MethodDelete, http.MethodPost} {
			path := "/v1/tasks/" + task.id
			if m == http.MethodPost {
				path += "/redeliver"
			}
			r := bearer.Do(t, m, path, nil)
			check(m+" "+path, r.Status, r.Header, r.Body)
		}
	}
	// The status monitor of the finished task sends the browser on with a
	// 303; followed, it is the result.
	follow := env.Client(t, "")
	follow.HTTP = &http.Client{}
	r := follow.Do(t, http.MethodGet, "/v1/tasks/"+done+"/status?token="+doneToken, nil)
	check("303 followed", r.Status, r.Header, r.Body)

	// The event streams, as Bearer and as ?token=; the finished task's ends
	// by itself, the waiting one's is read up to its first event.
	for _, s := range []*sse{
		openSSE(t, nil, env.URL+"/v1/tasks/"+done+"/events", "Authorization", "Bearer "+doneToken),
		openSSE(t, nil, env.URL+"/v1/tasks/"+done+"/events?token="+doneToken),
	} {
		check("events headers", s.resp.StatusCode, s.resp.Header, nil)
		events := s.waitEnd(t)
		var types []string
		for _, e := range events {
			check("event "+e.Type, s.resp.StatusCode, nil, []byte(e.Raw))
			types = append(types, e.Type)
		}
		if got := strings.Join(types, ","); !strings.HasPrefix(got, "created,") || !strings.HasSuffix(got, ",dead") {
			t.Errorf("the token's events: %s, want created … dead", got)
		}
	}
	s := openSSE(t, nil, env.URL+"/v1/tasks/"+waiting+"/events?token="+waitingToken)
	if e, ok := s.next(t); !ok || e.Type != "created" {
		t.Fatalf("the waiting task's stream: %+v %v", e, ok)
	} else {
		check("waiting event", s.resp.StatusCode, s.resp.Header, []byte(e.Raw))
	}
	if read < 40 {
		t.Fatalf("read only %d answers", read)
	}
}

// other is whichever of a and b id is not.
func other(id, a, b string) string {
	if id == a {
		return b
	}
	return a
}

// sep is the separator that adds a query parameter to path.
func sep(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

// wantPublic fails unless body is a task's public view and nothing more.
func wantPublic(t *testing.T, body []byte) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	for k := range fields {
		if !slices.Contains(publicFields, k) {
			t.Errorf("the public view has %q: %s", k, body)
		}
	}
	var attempts []map[string]json.RawMessage
	_ = json.Unmarshal(fields["attempts"], &attempts)
	for _, at := range attempts {
		for k := range at {
			if !slices.Contains([]string{"number", "startedAt", "durationMs", "outcome", "statusCode", "error"}, k) {
				t.Errorf("a public attempt has %q: %s", k, body)
			}
		}
	}
}
