package dashboard

import (
	"net/url"
	"strings"
	"testing"
)

// NextBypasses are post-sign-in targets that must all become "/": the
// usual open-redirect bypasses. The end-to-end tests send them too.
var NextBypasses = []string{
	// Not a path.
	"", "tasks", "evil.example", "@evil.example", " /tasks", "\t/tasks", "\n/tasks",
	"https://evil.example/", "http:evil.example", "http:/evil.example", "HTTPS://evil.example",
	"javascript:alert(1)", "JavaScript:alert(1)", "java\tscript:alert(1)", "data:text/html,<script>alert(1)</script>",
	"vbscript:msgbox(1)", "file:///etc/passwd", "mailto:x@evil.example", "ftp://evil.example",
	// Another host.
	"//evil.example", "///evil.example", "////evil.example", "//evil.example@boomerang.example",
	"//boomerang.example@evil.example", "/\\evil.example", "\\/evil.example", "\\\\evil.example",
	"/\\/evil.example", "/x\\..\\evil", "/tasks\\evil",
	// Characters browsers drop or read as a slash.
	"/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/\r\n/evil.example", "/\x00/evil.example",
	"/\x0b/evil.example", "/\x0c/evil.example", "/\x1f/evil.example", "/\x7f/evil.example", "/ /evil.example",
	"/tasks\x00", "/tasks?x=\r\nSet-Cookie:a=b", "/tasks#\n",
	"/\u0085/evil.example", "/\u00a0/evil.example", "/\u1680/evil.example", "/\u2000/evil.example",
	"/\u2028/evil.example", "/\u2029/evil.example", "/\u200b/evil.example", "/\u3000/evil.example",
	"/\ufeff/evil.example", "/\uff0fevil.example", "\uff0f\uff0fevil.example", "/\uff3cevil.example",
	"/\u2215evil.example", "/\u2044evil.example", "/\u29f8evil.example", "/\xff", "/\xc0\xaf/evil.example",
	"/tasks?<script>", "/tasks?q=\"", "/{evil}", "/tasks|x", "/tasks^", "/`x`",
	// Encoded slashes, backslashes and controls, once and again.
	"/%2F/evil.example", "/%2f/evil.example", "/%2F%2Fevil.example", "%2F%2Fevil.example", "/%2F%5Cevil.example",
	"/%5Cevil.example", "/%5c/evil.example", "/%09/evil.example", "/%0d%0a/evil.example", "/%00/evil.example",
	"/%0b/evil.example", "/%7f/evil.example", "/%20/evil.example", "/%252F%252Fevil.example", "/%252f/evil.example",
	"/%255Cevil.example", "/%2509/evil.example", "/%25252F/evil.example", "/%2525252F/evil.example",
	"/%E2%80%A8/evil.example", "/%EF%BC%8Fevil.example", "/%EF%BC%BCevil.example", "/%C0%AF/evil.example",
	"/%E3%80%80/evil.example", "/%", "/%zz", "/%2", "/tasks/%",
	// Dot segments, which normalise away: "/.//evil.example" is "//evil.example".
	"/./evil", "/.//evil.example", "/x/..//evil.example", "/tasks/../..//evil.example", "/..", "/.", "/tasks/..",
	"/%2e/evil", "/%2e%2e/evil", "/.%2e/evil", "/%2E%2E//evil.example", "/%252e%252e/evil", "/tasks//x",
	// Too long.
	"/" + strings.Repeat("a", maxNext),
	"/" + strings.Repeat("%2F", 1000),
}

func TestSafeNext(t *testing.T) {
	for _, next := range NextBypasses {
		if got := safeNext(next); got != "/" {
			t.Errorf("safeNext(%q) = %q, want /", next, got)
		}
	}
	// Paths of this site stay as they are.
	for _, next := range []string{
		"/", "/tasks", "/tasks/", "/settings", "/tasks?status=failed&host=a.example", "/tasks/tsk_1#attempts",
		"/tasks?cursor=abc%3D%3D", "/tasks?next=//evil.example", "/tasks/tsk_%41", "/@evil.example",
		"/javascript:alert(1)", "/tasks?q=%0d%0a", "/dead-letters", "/" + strings.Repeat("a", maxNext-1),
	} {
		if got := safeNext(next); got != next {
			t.Errorf("safeNext(%q) = %q, want it unchanged", next, got)
		}
	}
}

// browserResolve resolves a Location header against base as a browser
// does: it drops surrounding spaces and controls and every tab and newline,
// and reads a backslash as a slash.
func browserResolve(base *url.URL, location string) (*url.URL, error) {
	location = strings.TrimFunc(location, func(r rune) bool { return r <= ' ' })
	location = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(location)
	ref, err := url.Parse(location)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(ref), nil
}

// FuzzSafeNext checks that whatever safeNext lets through stays on this
// site as a browser reads it, however often its path is decoded.
func FuzzSafeNext(f *testing.F) {
	for _, next := range NextBypasses {
		f.Add(next)
	}
	f.Add("/tasks?status=failed")
	base, _ := url.Parse("https://boomerang.example/")
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got != "/" && got != next {
			t.Fatalf("safeNext(%q) = %q: neither / nor next", next, got)
		}
		u, err := browserResolve(base, got)
		if err != nil {
			t.Fatalf("safeNext(%q) = %q, which does not parse: %v", next, got, err)
		}
		if u.Scheme != base.Scheme || u.Host != base.Host || u.User != nil {
			t.Fatalf("safeNext(%q) = %q leads to %s", next, got, u)
		}
		p := u.EscapedPath()
		for range maxDecodes + 1 {
			if strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\t\r\n") {
				t.Fatalf("safeNext(%q) = %q, whose path decodes to %q", next, got, p)
			}
			if p, err = url.PathUnescape(p); err != nil {
				break
			}
		}
	})
}
