package source_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/camnode/camnode/media/source"
	"github.com/camnode/camnode/media/source/exec"
)

// Parse never panics; what it accepts has a Describe that is never empty and never shows
// an exec command's arguments, and a file: URI's path is never empty.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"file:///tmp/clip.h264?loop=0&pace=0", "file:rel/clip.h264", "file://host/x",
		"file:", "file:///", "file:%zz", "file://localhost/a%20b.h264?loop=1", "rpicam", "rpicam:1?codec=h264",
		"rpicam:99", "auto", "testsrc", "v4l2:///dev/video0", "exec:ffmpeg -i 'rtsp://u:p@h' -", "exec:sh -c 'x y'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		spec, err := source.Parse(uri)
		if err != nil {
			return
		}
		d := spec.Describe()
		if d == "" || d == "file:" {
			t.Fatalf("Parse(%q).Describe() = %q", uri, d)
		}
		if strings.HasPrefix(d, "exec:") {
			_, line, _ := strings.Cut(strings.TrimSpace(uri), ":")
			argv, err := exec.Argv(line)
			if err != nil || d != "exec:"+filepath.Base(argv[0]) {
				t.Fatalf("Describe(%q) = %q: want only the program's name", uri, d)
			}
		}
	})
}
