package pipeline

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/camnode/camnode/internal/peers"
)

// TestLocalIsDiscovered: the node's local outputs with CAMNODE_ONVIF, inside a network
// namespace of their own (loopback with multicast on): node-onvif's WS-Discovery probe finds
// the node under its id, at the device service of the HTTP listener's address and port. The
// test re-runs itself under `unshare -n`; outside CI it is skipped where that is not
// permitted.
func TestLocalIsDiscovered(t *testing.T) {
	peers.NotUnderQEMU(t, "the test re-runs its own binary in a network namespace")
	if _, err := os.Stat("../onvif/testdata/node/node_modules/node-onvif"); err != nil {
		peers.Require(t, "node-onvif (npm ci in media/onvif/testdata/node)")
	}
	peers.Require(t, "node")
	if peers.InMulticastNamespace(t, "TestLocalIsDiscovered") {
		discoveredInNamespace(t)
	}
}

func discoveredInNamespace(t *testing.T) {
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
