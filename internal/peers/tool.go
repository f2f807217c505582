package peers

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// BuildTool builds the Go program in pkgDir (a path relative to the test's directory) into
// out, for this machine: a stand-in for a program the node runs (rpicam-vid) is one of the
// machine's programs, also when the test itself is cross-built and run under qemu-user
// (scripts/ci/arm64.sh sets GOARCH for the test binaries, not for the programs they start).
func BuildTool(t testing.TB, pkgDir, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkgDir)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "GOOS", "GOARCH", "GOARM", "CC", "CGO_ENABLED":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("peers: build %s: %v\n%s", pkgDir, err, b)
	}
}

// NotUnderQEMU skips a test that cannot run in a test binary emulated by qemu-user
// (scripts/ci/arm64.sh sets TEST_UNDER_QEMU=1 there), saying why; make test runs it on the
// host.
func NotUnderQEMU(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("TEST_UNDER_QEMU") == "1" {
		t.Skip("under qemu-user: " + why + " (run on the host by make test)")
	}
}
