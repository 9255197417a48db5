package reference

import "testing"

func TestProse(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"One line.", "<p>One line.</p>"},
		{"Two\nlines.\n\nA second paragraph.", "<p>Two lines.</p><p>A second paragraph.</p>"},
		{"Use `?wait=30s` <b>now</b> & then.", "<p>Use <code>?wait=30s</code> &lt;b&gt;now&lt;/b&gt; &amp; then.</p>"},
		{"An odd ` backtick", "<p>An odd ` backtick</p>"},
		{"- one\n- two\n  continued", "<ul><li>one</li><li>two continued</li></ul>"},
		{"`<script>`", "<p><code>&lt;script&gt;</code></p>"},
		{"", ""},
	} {
		if got := string(prose(c.in)); got != c.want {
			t.Errorf("prose(%q): got %q, want %q", c.in, got, c.want)
		}
	}
}
