package peers

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// netnsChild marks the test binary re-run inside the namespace.
const netnsChild = "PEERS_NETNS_CHILD"

// InMulticastNamespace runs the test inside a network namespace of its own whose loopback
// carries multicast (224.0.0.0/4 routed to lo), so that multicast tests send nothing beyond
// the machine. The test binary re-runs the test named test under `unshare -n`: there
// InMulticastNamespace sets the loopback up and returns true, and the test does its work;
// in the outer run it returns false once the inner run passed (failing the test otherwise).
// Outside CI it skips where namespaces are not permitted.
func InMulticastNamespace(t *testing.T, test string) bool {
	t.Helper()
	if os.Getenv(netnsChild) == "1" {
		for _, c := range [][]string{{"link", "set", "lo", "up"}, {"link", "set", "lo", "multicast", "on"},
			{"route", "add", "224.0.0.0/4", "dev", "lo"}} {
			if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
				t.Fatalf("peers: ip %s: %v: %s", strings.Join(c, " "), err, out)
			}
		}
		return true
	}
	Require(t, "unshare", "ip")
	args := []string{"-n"}
	if os.Geteuid() != 0 {
		args = []string{"-rn"} // a user namespace to be root in the new network namespace
	}
	args = append(args, os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.count=1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.Env = append(os.Environ(), netnsChild+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "unshare failed") && os.Getenv("CI") == "" && os.Getenv("PEERS_REQUIRED") != "1" {
		t.Skipf("network namespaces not permitted here: %s", strings.TrimSpace(string(out)))
	}
	t.Logf("in the namespace:\n%s", out)
	if err != nil {
		t.Fatalf("the test in the namespace failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+test) {
		t.Fatal("the test in the namespace did not pass")
	}
	return false
}
