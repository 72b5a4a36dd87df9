package readme

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	doc := "# T\n\n## A\none\n### sub\ntwo\n## B\nthree\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Section(path, "## A")
	if err != nil || got != "## A\none\n### sub\ntwo\n" {
		t.Fatalf("Section(## A) = %q, %v", got, err)
	}
	if got, err := Section(path, "## B"); err != nil || got != "## B\nthree\n" {
		t.Fatalf("Section(## B) = %q, %v", got, err)
	}
	if _, err := Section(path, "## C"); err == nil {
		t.Fatal("a missing section is an error")
	}
	if _, err := Section(filepath.Join(t.TempDir(), "none.md"), "## A"); err == nil {
		t.Fatal("a missing file is an error")
	}
}
