package onvif

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// requireNodeModules ends the test when node-onvif is not installed (scripts/deps.sh all
// runs npm ci): skipped on a developer machine, failed in CI.
func requireNodeModules(t *testing.T) {
	t.Helper()
	peers.Require(t, "node")
	if _, err := os.Stat("testdata/node/node_modules/node-onvif"); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("PEERS_REQUIRED") == "1" {
			t.Fatalf("node-onvif is required but missing (install with: make deps)")
		}
		t.Skip("node-onvif missing (install with: make deps)")
	}
}

var discoveryDevice = Device{
	Manufacturer: "camnode", Model: "camnode", Firmware: "1.2.3", Serial: "node-7",
	HardwareID: "raspberrypi-5", Name: "Kitchen cam", MAC: StableMAC("node-7"),
}

func discoveryXAddrs(local net.IP) []string {
	return []string{"http://" + net.JoinHostPort(local.String(), "8080") + DevicePath}
}

// wsdMessage is what the tests read of a WS-Discovery message.
type wsdMessage struct {
	Header struct {
		Action    string `xml:"Action"`
		RelatesTo string `xml:"RelatesTo"`
	} `xml:"Header"`
	Body struct {
		Inner []struct {
			XMLName xml.Name
			Address string `xml:"EndpointReference>Address"`
			Types   string `xml:"Types"`
			Scopes  string `xml:"Scopes"`
			XAddrs  string `xml:"XAddrs"`
			Match   struct {
				Address string `xml:"EndpointReference>Address"`
				Types   string `xml:"Types"`
				Scopes  string `xml:"Scopes"`
				XAddrs  string `xml:"XAddrs"`
			} `xml:"ProbeMatch"`
		} `xml:",any"`
	} `xml:"Body"`
}

// TestDiscoveryNodeOnvif runs WS-Discovery for real inside a network namespace of its own
// (loopback with multicast on), so nothing leaves the machine: node-onvif's probe must find
// the node, and a listener on the group must see Hello at start and Bye at the end. The test
// re-runs itself under `unshare -n`; outside CI it is skipped where that is not permitted.
func TestDiscoveryNodeOnvif(t *testing.T) {
	peers.NotUnderQEMU(t, "the test re-runs its own binary in a network namespace")
	requireNodeModules(t)
	if peers.InMulticastNamespace(t, "TestDiscoveryNodeOnvif") {
		discoveryInNamespace(t)
	}
}

func discoveryInNamespace(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	// A listener on the group, as any other WS-Discovery client would be.
	listener, err := listenGroup(lo, DiscoveryPort)
	if err != nil {
		t.Fatalf("listener: %v", err)
	}
	defer listener.Close()
	heard := make(chan wsdMessage, 16)
	go func() {
		buf := make([]byte, maxDatagram)
		for {
			n, _, err := listener.ReadFromUDP(buf)
			if err != nil {
				close(heard)
				return
			}
			var m wsdMessage
			if xml.Unmarshal(buf[:n], &m) == nil {
				heard <- m
			}
		}
	}()
	waitFor := func(action string) wsdMessage {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case m, ok := <-heard:
				if !ok {
					t.Fatalf("listener closed before %s", action)
				}
				if strings.HasSuffix(m.Header.Action, "/"+action) {
					return m
				}
			case <-timeout:
				t.Fatalf("no %s within 30 s", action)
			}
		}
	}

	d, err := NewDiscovery(DiscoveryOptions{
		Device: discoveryDevice, XAddrs: discoveryXAddrs,
		Addrs: []net.IP{net.IPv4(127, 0, 0, 1)}, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	wantXAddr := "http://127.0.0.1:8080" + DevicePath

	hello := waitFor("Hello")
	if len(hello.Body.Inner) != 1 || hello.Body.Inner[0].XMLName.Local != "Hello" {
		t.Fatalf("Hello body = %+v", hello.Body.Inner)
	}
	h := hello.Body.Inner[0]
	if h.Address != endpointURN(discoveryDevice) || !strings.Contains(h.Types, "NetworkVideoTransmitter") ||
		!strings.Contains(h.Scopes, "onvif://www.onvif.org/Profile/Streaming") || h.XAddrs != wantXAddr {
		t.Errorf("Hello = %+v", h)
	}

	// node-onvif's probe, multicast, answered by unicast.
	pctx, pcancel := context.WithTimeout(ctx, time.Minute)
	out, err := exec.CommandContext(pctx, "node", "testdata/node/probe.js").Output()
	pcancel()
	if err != nil {
		t.Fatalf("node-onvif probe: %v", err)
	}
	var found []struct {
		URN      string   `json:"urn"`
		Name     string   `json:"name"`
		Hardware string   `json:"hardware"`
		XAddrs   []string `json:"xaddrs"`
		Scopes   []string `json:"scopes"`
		Types    []string `json:"types"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &found); err != nil {
		t.Fatalf("node-onvif probe output %q: %v", out, err)
	}
	t.Logf("node-onvif found: %s", out)
	if len(found) != 1 {
		t.Fatalf("node-onvif found %d devices, want 1", len(found))
	}
	f := found[0]
	if f.URN != endpointURN(discoveryDevice) || f.Name != "Kitchen cam" || f.Hardware != "raspberrypi-5" ||
		len(f.XAddrs) != 1 || f.XAddrs[0] != wantXAddr {
		t.Errorf("found %+v", f)
	}
	if !contains(f.Scopes, "onvif://www.onvif.org/Profile/Streaming") || !contains(f.Scopes, "onvif://www.onvif.org/mac/"+discoveryDevice.MAC.String()) {
		t.Errorf("scopes %v lack Profile/Streaming or the MAC", f.Scopes)
	}
	if !contains(f.Types, "dn:NetworkVideoTransmitter") {
		t.Errorf("types %v lack dn:NetworkVideoTransmitter", f.Types)
	}

	cancel()
	bye := waitFor("Bye")
	if len(bye.Body.Inner) != 1 || bye.Body.Inner[0].Address != endpointURN(discoveryDevice) {
		t.Errorf("Bye = %+v", bye.Body.Inner)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
