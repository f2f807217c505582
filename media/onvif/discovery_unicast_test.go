package onvif

import (
	"context"
	"encoding/xml"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// TestDiscoveryUnicastProbe: a Probe sent straight to the discovery port (as a client that
// knows the address does) is answered to its sender, on the host's own loopback.
func TestDiscoveryUnicastProbe(t *testing.T) {
	peers.NotUnderQEMU(t, "qemu-user does not pass the multicast membership (IP_ADD_MEMBERSHIP) to the kernel")
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	d, err := NewDiscovery(DiscoveryOptions{
		Device: discoveryDevice, XAddrs: discoveryXAddrs,
		Addrs: []net.IP{net.IPv4(127, 0, 0, 1)}, Port: port, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	buf := make([]byte, maxDatagram)
	deadline := time.Now().Add(30 * time.Second)
	for {
		// UDP: resend until answered (the reader may not be running yet).
		if _, err := client.WriteToUDP([]byte(nodeOnvifProbe), to); err != nil {
			t.Fatal(err)
		}
		client.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, _, err := client.ReadFromUDP(buf)
		if err == nil {
			var m wsdMessage
			if err := xml.Unmarshal(buf[:n], &m); err != nil {
				t.Fatalf("answer: %v\n%s", err, buf[:n])
			}
			if !strings.HasSuffix(m.Header.Action, "/ProbeMatches") || m.Body.Inner[0].Match.XAddrs != "http://127.0.0.1:8080"+DevicePath {
				t.Fatalf("answer = %s", buf[:n])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no ProbeMatches within 30 s")
		}
	}
}

func TestDiscoveryBindErrors(t *testing.T) {
	if _, err := NewDiscovery(DiscoveryOptions{XAddrs: discoveryXAddrs, Addrs: []net.IP{net.IPv4(192, 0, 2, 77)}}); err == nil ||
		!strings.Contains(err.Error(), "no up IPv4 interface holds") {
		t.Errorf("an address no interface holds: %v", err)
	}
	if _, err := NewDiscovery(DiscoveryOptions{Addrs: []net.IP{net.IPv4(127, 0, 0, 1)}}); err == nil {
		t.Error("no XAddrs accepted")
	}
}
