package dashboard_test

import (
	"html"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestFormsSetKeys: the new-task and new-schedule forms set an ordering
// key or flow control; the API's validation of them (one or the other,
// a key, a rate or parallelism, bounds, a period) is shown next to their
// fields, with what was typed kept, and nothing is created until it
// passes.
func TestFormsSetKeys(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	apiClient, creds := env.Tenant(t, "acme")
	user := &visitor{t: t, base: env.URL}
	user.signIn(creds.APIKey)
	for _, path := range []string{"/tasks/new", "/schedules/new"} {
		if p := user.do(http.MethodGet, path, nil); !strings.Contains(p.body, `name="orderingKey"`) || !strings.Contains(p.body, `name="flowControl.parallelism"`) {
			t.Fatalf("%s has no ordering key or flow control fields:\n%s", path, p.body)
		}
	}
	form := func(path string, fields ...string) url.Values {
		v := url.Values{"csrf": {user.csrf()}, "targetUrl": {"https://example.com/x"}, "method": {"POST"}, "retries": {"1"}, "timeout": {"5"}}
		if path == "/schedules/new" {
			v.Set("kind", "every")
			v.Set("every", "1h")
		}
		for i := 0; i+1 < len(fields); i += 2 {
			v.Set(fields[i], fields[i+1])
		}
		return v
	}
	bad := []struct {
		name   string
		fields []string
		want   []string // on the page, unescaped
	}{
		{"both", []string{"orderingKey", "acct-1", "flowControl.key", "pay", "flowControl.rate", "2"},
			[]string{`id="flowControl-err">give orderingKey or flowControl, not both<`, `value="acct-1"`, `value="pay"`}},
		{"no limit", []string{"flowControl.key", "pay"},
			[]string{`id="flowControl-err">give rate, parallelism or both<`}},
		{"no key", []string{"flowControl.parallelism", "3"},
			[]string{`id="flowControl-key-err">is required<`, `value="3"`}},
		{"bounds", []string{"flowControl.key", "pay", "flowControl.rate", "0", "flowControl.parallelism", "100000", "flowControl.period", "soon"},
			[]string{`id="flowControl-rate-err">must be between 1 and`, `id="flowControl-parallelism-err">must be between 1 and`,
				`id="flowControl-period-err">must be a duration`, `value="soon"`}},
		{"not a number", []string{"flowControl.key", "pay", "flowControl.rate", "many"},
			[]string{`id="flowControl-rate-err">must be a number<`}},
		{"bad ordering key", []string{"orderingKey", "a\x01b"},
			[]string{`id="orderingKey-err">must not contain control characters<`}},
	}
	before := env.TaskLastSeq(t)
	for _, path := range []string{"/tasks/new", "/schedules/new"} {
		for _, tc := range bad {
			p := user.do(http.MethodPost, path, form(path, tc.fields...))
			body := html.UnescapeString(p.body)
			if p.StatusCode != http.StatusBadRequest {
				t.Fatalf("%s %s: got %d, want 400", path, tc.name, p.StatusCode)
			}
			for _, want := range tc.want {
				if !strings.Contains(body, want) {
					t.Errorf("%s %s: the form lacks %q:\n%s", path, tc.name, want, body)
				}
			}
		}
	}
	if env.TaskLastSeq(t) != before {
		t.Fatal("a refused form created a task")
	}
	var list struct{ Items []struct{ ID string } }
	if apiClient.Do(t, http.MethodGet, "/v1/schedules", nil).JSON(t, &list); len(list.Items) != 0 {
		t.Fatalf("a refused form created schedules: %+v", list.Items)
	}

	good := []struct {
		fields   []string
		ordering string
		fc       *broker.FlowControl
	}{
		{[]string{"orderingKey", "acct 1"}, "acct 1", nil},
		{[]string{"flowControl.key", "pay", "flowControl.rate", "100", "flowControl.period", "1m", "flowControl.parallelism", "5"}, "",
			&broker.FlowControl{Key: "pay", Rate: 100, Period: "1m", Parallelism: 5}},
		{[]string{"flowControl.key", "pay", "flowControl.parallelism", "2"}, "", &broker.FlowControl{Key: "pay", Parallelism: 2}},
	}
	for _, path := range []string{"/tasks/new", "/schedules/new"} {
		for _, tc := range good {
			p := user.do(http.MethodPost, path, form(path, tc.fields...))
			id, ok := strings.CutPrefix(p.location(), strings.TrimSuffix(path, "new"))
			id, _, _ = strings.Cut(id, "?")
			if p.StatusCode != http.StatusSeeOther || !ok {
				t.Fatalf("%s %v: got %d to %q:\n%s", path, tc.fields, p.StatusCode, p.location(), p.body)
			}
			var spec broker.Spec
			if path == "/tasks/new" {
				var task broker.Task
				apiClient.Do(t, http.MethodGet, "/v1/tasks/"+id, nil).JSON(t, &task)
				spec = task.Spec
			} else {
				var sc struct{ Task broker.Spec }
				apiClient.Do(t, http.MethodGet, "/v1/schedules/"+id, nil).JSON(t, &sc)
				spec = sc.Task
			}
			if spec.OrderingKey != tc.ordering || !reflect.DeepEqual(spec.FlowControl, tc.fc) {
				t.Errorf("%s %v: got orderingKey %q, flowControl %+v; want %q, %+v", path, tc.fields, spec.OrderingKey, spec.FlowControl, tc.ordering, tc.fc)
			}
		}
	}
}
