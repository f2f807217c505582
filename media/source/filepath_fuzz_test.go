package source

import (
	"strings"
	"testing"
)

// FilePath never panics; a path it returns is never empty, and Describe shows it.
func FuzzFilePath(f *testing.F) {
	for _, s := range []string{"file:///tmp/clip.h264?loop=0&pace=0", "file:rel/clip.h264", "file://host/x",
		"file:", "file:///", "file:%zz", "file://localhost/a%20b.h264?loop=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		path, _, err := FilePath(uri)
		if err != nil {
			return
		}
		if path == "" {
			t.Fatalf("FilePath(%q): empty path without an error", uri)
		}
		if d := Describe("file:" + strings.TrimPrefix(uri, "file:")); d == "" {
			t.Fatalf("Describe(%q) is empty", uri)
		}
	})
}
