package pipeline

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// TestLocalIsDiscovered: the node's local outputs with CAMNODE_ONVIF, inside a network
// namespace of their own (loopback with multicast on): node-onvif's WS-Discovery probe finds
// the node under its id, at the device service of the HTTP listener's address and port. The
// test re-runs itself under `unshare -n`; outside CI it is skipped where that is not
// permitted.
func TestLocalIsDiscovered(t *testing.T) {
	peers.NotUnderQEMU(t, "the test re-runs its own binary in a network namespace")
	if os.Getenv("PIPELINE_NETNS_CHILD") == "1" {
		discoveredInNamespace(t)
		return
	}
	if _, err := os.Stat("../onvif/testdata/node/node_modules/node-onvif"); err != nil {
		peers.Require(t, "node-onvif (npm ci in media/onvif/testdata/node)")
	}
	peers.Require(t, "unshare", "ip", "node")
	args := []string{"-n"}
	if os.Geteuid() != 0 {
		args = []string{"-rn"}
	}
	args = append(args, os.Args[0], "-test.run=^TestLocalIsDiscovered$", "-test.v", "-test.count=1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.Env = append(os.Environ(), "PIPELINE_NETNS_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "unshare failed") && os.Getenv("CI") == "" && os.Getenv("PEERS_REQUIRED") != "1" {
		t.Skipf("network namespaces not permitted here: %s", strings.TrimSpace(string(out)))
	}
	t.Logf("in the namespace:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestLocalIsDiscovered") {
		t.Fatalf("the test in the namespace failed: %v", err)
	}
}

func discoveredInNamespace(t *testing.T) {
	for _, c := range [][]string{{"link", "set", "lo", "up"}, {"link", "set", "lo", "multicast", "on"},
		{"route", "add", "224.0.0.0/4", "dev", "lo"}} {
		if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	httpAddr, rtspAddr := free(), free()
	l, err := ListenLocal(LocalOptions{HTTP: httpAddr, RTSP: rtspAddr, ONVIF: true, NodeID: "garden", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if l.discovery == nil {
		t.Fatal("no WS-Discovery on a loopback with multicast")
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { l.Serve(ctx); close(served) }()
	defer func() { cancel(); <-served }()

	probe := exec.Command("node", "probe.js")
	probe.Dir = "../onvif/testdata/node"
	out, err := probe.Output()
	if err != nil {
		t.Fatalf("node-onvif probe: %v", err)
	}
	var devices []struct {
		Name   string   `json:"name"`
		Xaddrs []string `json:"xaddrs"`
	}
	if err := json.Unmarshal(out, &devices); err != nil {
		t.Fatalf("probe output %s: %v", out, err)
	}
	want := "http://" + httpAddr + "/onvif/device_service"
	if len(devices) != 1 || !strings.Contains(devices[0].Name, "garden") || len(devices[0].Xaddrs) != 1 || devices[0].Xaddrs[0] != want {
		t.Fatalf("node-onvif found %s, want the node garden at %s", out, want)
	}
}
