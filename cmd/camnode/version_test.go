package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/picture"
)

// TestVersionReport: on this machine (scripts/deps.sh installs libx264-164 and
// libturbojpeg0) the report names both libraries; run again with both hidden, as on a Pi
// without them, it names the packages to install and the fallback.
func TestVersionReport(t *testing.T) {
	var b bytes.Buffer
	versionReport(&b)
	got := b.String()
	hidden := os.Getenv("VERSION_TEST_HIDDEN") == "1"
	want := []string{"camnode " + version, "v4l2 cameras:   built in", "hw encoder"}
	if hidden {
		want = append(want, "x264 encoder:   missing:", "apt install libx264-164", "MJPEG decoding: image/jpeg", "apt install libturbojpeg0")
	} else {
		want = append(want, "x264 encoder:   libx264.so.164 (build 164)", "MJPEG decoding: libjpeg-turbo")
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("report lacks %q:\n%s", w, got)
		}
	}
	if hidden {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestVersionReport$", "-test.v")
	cmd.Env = append(os.Environ(), "VERSION_TEST_HIDDEN=1", x264.LibraryEnv+"=libx264-hidden.so.164",
		picture.TurboJPEGLibraryEnv+"=libturbojpeg-hidden.so.0")
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.ENOEXEC) {
		t.Skipf("this test binary cannot start itself: %v", err)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestVersionReport") {
		t.Fatalf("without the libraries: %v\n%s", err, out)
	}
}
