package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCurlExamplesSendJSON: every curl example in the documents that
// sends a body names it application/json. Without the header curl sends
// application/x-www-form-urlencoded, which the API refuses with a 415.
func TestCurlExamplesSendJSON(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join("..", "README.md"), filepath.Join("..", "examples", "README.md"))
	sending := regexp.MustCompile(`\s(-d|--data|--data-binary|--data-raw)[\s=]`)
	checked := 0
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, cmd := range curlCommands(string(data)) {
			if !sending.MatchString(cmd) {
				continue
			}
			checked++
			if !strings.Contains(strings.ToLower(cmd), "content-type: application/json") && !strings.Contains(cmd, " --json ") {
				t.Errorf("%s: this curl command sends a body without Content-Type: application/json (the API answers 415):\n%s", name, cmd)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("only %d curl commands with a body found: the test is not reading the documents", checked)
	}
}

// curlCommands returns the curl commands of a Markdown text, each with
// its continuation lines (ending in a backslash, or inside an open
// single-quoted string) joined.
func curlCommands(text string) []string {
	var cmds []string
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(line, "curl ") {
			continue
		}
		cmd := line
		for i+1 < len(lines) && (strings.HasSuffix(cmd, `\`) || strings.Count(cmd, "'")%2 == 1) {
			i++
			cmd = strings.TrimSuffix(cmd, `\`) + " " + strings.TrimSpace(lines[i])
		}
		cmds = append(cmds, cmd)
	}
	return cmds
}
