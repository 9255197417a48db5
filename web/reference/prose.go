package reference

import (
	"html/template"
	"strings"
)

// prose renders a description written in the document's plain style:
// paragraphs split by blank lines, lines starting with "- " as a list,
// `code` spans as code. Everything else is text, escaped.
func prose(text string) template.HTML {
	var b strings.Builder
	for _, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		lines := strings.Split(strings.TrimSpace(para), "\n")
		if len(lines) == 0 || lines[0] == "" {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(lines[0]), "- ") {
			b.WriteString("<ul>")
			for _, item := range listItems(lines) {
				b.WriteString("<li>" + inline(item) + "</li>")
			}
			b.WriteString("</ul>")
			continue
		}
		b.WriteString("<p>" + inline(strings.Join(trimAll(lines), " ")) + "</p>")
	}
	return template.HTML(b.String()) // every piece of text went through inline
}

// listItems joins a list's lines into items: a line that does not start
// with "- " continues the item before it.
func listItems(lines []string) []string {
	var items []string
	for _, l := range trimAll(lines) {
		if rest, ok := strings.CutPrefix(l, "- "); ok || len(items) == 0 {
			items = append(items, rest)
			continue
		}
		items[len(items)-1] += " " + l
	}
	return items
}

func trimAll(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimSpace(l)
	}
	return out
}

// inline escapes text and turns `code` spans into <code>; an unpaired
// backtick stays a backtick.
func inline(text string) string {
	parts := strings.Split(text, "`")
	var b strings.Builder
	for i, p := range parts {
		switch {
		case i%2 == 1 && i < len(parts)-1:
			b.WriteString("<code>" + template.HTMLEscapeString(p) + "</code>")
		case i%2 == 1:
			b.WriteString("`" + template.HTMLEscapeString(p))
		default:
			b.WriteString(template.HTMLEscapeString(p))
		}
	}
	return b.String()
}
