// Package readme reads sections of the repository's README.md, so tests can
// keep commands, flags and docs in step.
package readme

import (
	"fmt"
	"os"
	"strings"
)

// Section returns the part of the Markdown file at path that starts with the
// heading line (such as "## Scripting and integration tests") and runs up to
// the next heading of level two.
func Section(path, heading string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	text := string(b)
	i := strings.Index(text, heading)
	if i < 0 {
		return "", fmt.Errorf("%s has no section %q", path, heading)
	}
	sec := text[i:]
	if j := strings.Index(sec[1:], "\n## "); j >= 0 {
		sec = sec[:j+2] // keep the newline that ends the section
	}
	return sec, nil
}
