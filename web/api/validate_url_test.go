package api

import (
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/delivery"
)

// URLs that parse but would fail, or be sent otherwise than written, only
// when the call is made are refused at create, naming the field; the forms
// that work are still accepted.
func TestURLFormsThatWouldFailLater(t *testing.T) {
	t.Parallel()
	v := New(Config{CheckURL: delivery.Guard{}.CheckURL, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}).validator
	long := strings.Repeat("a", 63)
	refused := map[string]string{
		"https://e.com:0/":                                "port",
		"https://e.com:65536/":                            "port",
		"https://e.com:99999999999999999999/":             "port",
		"https://" + strings.Repeat(long+".", 4) + "com/": "253",
		"https://" + long + "a.com/":                      "63",
		"https://a..b.com/":                               "empty label",
		"https://.a.com/":                                 "empty label",
		"https://a.com../":                                "empty label",
		"https://-a.com/":                                 "hyphen",
		"https://a-.com/":                                 "hyphen",
		"https://exa!mple.com/":                           "letters, digits",
		"https://a%25b.com/":                              "letters, digits",
		"https://[2606:4700::1%25eth0]/":                  "zone",
		"https://e.com/#frag":                             "fragment",
		"https://e.com/#":                                 "fragment",
		"https://e.com/a b":                               "spaces",
		"https://e.com/?q=a b":                            "spaces",
		"https://e.com/?q=a\tb":                           "spaces",
		"https://e.com/ü":                                 "percent-encode",
		"https://e.com/?q=ü":                              "percent-encode",
		"https://e.com/?q=a|b":                            "percent-encode",
		"https://e.com/?q=\"x\"":                          "percent-encode",
		"https://e.com/a{b}":                              "percent-encode",
		"https://e.com/?q=%zz":                            "%",
		"https://e.com/?q=100%":                           "%",
		"https://\u0301a.com/":                            "internationalised",
		"https://user:pw@e.com/":                          "credentials",
		"https://ｌｏｃａｌｈｏｓｔ/":                              "blocked",
		"https://１２７.０.０.１/":                              "blocked",
		"https://localhost./":                             "blocked",
	}
	for raw, want := range refused {
		_, errs := v.Task(TaskRequest{TargetURL: &raw}, "")
		if len(errs) != 1 || errs[0].Field != "targetUrl" || !strings.Contains(errs[0].Message, want) {
			t.Errorf("%q: got %+v, want one error on targetUrl with %q", raw, errs, want)
		}
		target := "https://example.com/"
		if _, errs := v.Task(TaskRequest{TargetURL: &target, WebhookURL: &raw}, ""); len(errs) != 1 || errs[0].Field != "webhookUrl" {
			t.Errorf("%q as webhookUrl: got %+v, want one error on webhookUrl", raw, errs)
		}
	}
	for _, raw := range []string{
		"https://e.com:1/", "https://e.com:65535/", "https://e.com:/", "http://E.COM/Path",
		"https://example.com./x", "https://bücher.example/", "https://xn--bcher-kva.example/",
		"https://my_host.example/", "https://" + long + ".com/", "https://[2606:4700::1111]:8443/",
		"https://e.com/a%20b?q=%C3%BC&x[]=1&y=a/b?c", "https://e.com/a(b)!*;,=+$@:",
	} {
		if spec, errs := v.Task(TaskRequest{TargetURL: &raw}, ""); len(errs) != 0 || spec.TargetURL != raw {
			t.Errorf("%q: got %+v, %q; want it accepted as written", raw, errs, spec.TargetURL)
		}
	}
}
