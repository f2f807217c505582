package main

import (
	"bytes"
	"strings"
	"testing"
)

// The probe on machines without cameras (CI): each way of calling it says what is wrong
// with the exit code the usage promises. On a camera, scripts/ci/vm.sh runs it in the VM.
func TestProbeCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"--help"}, 0, "usage: camnode probe [/dev/videoN ...] [--json]", ""},
		{[]string{"--list"}, 2, "", "camnode probe: unknown flag --list"},
		{[]string{"/dev/video99"}, 1, "", "/dev/video99"},
		{[]string{"/dev/null", "--json"}, 1, "", "/dev/null"},
	} {
		var out, errOut bytes.Buffer
		code := run(append([]string{"probe"}, tc.args...), &out, &errOut)
		if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errOut.String(), tc.stderr) {
			t.Errorf("camnode probe %v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tc.args, code, out.String(), errOut.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}
