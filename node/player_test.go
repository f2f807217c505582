package node

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media/pipeline"
	"github.com/camnode/camnode/mqtt"
)

// The device's configuration_url links the player where Home Assistant's users reach it:
// nothing on loopback, the address itself when it is one, this machine's address for
// every interface; never a token.
func TestConfigurationURL(t *testing.T) {
	for _, c := range []struct {
		addr *net.TCPAddr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, ""},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, ""},
		{&net.TCPAddr{IP: net.IPv4(192, 168, 1, 20), Port: 8080}, "http://192.168.1.20:8080/"},
		{&net.TCPAddr{IP: net.ParseIP("fd00::1"), Port: 80}, "http://[fd00::1]:80/"},
	} {
		if got := configurationURL(c.addr); got != c.want {
			t.Errorf("%v: %q, want %q", c.addr, got, c.want)
		}
	}
	got := configurationURL(&net.TCPAddr{IP: net.IPv4zero, Port: 8080})
	if ip := pipeline.HostAddress(); ip == nil {
		if got != "" {
			t.Errorf("0.0.0.0 on a machine without a network address: %q", got)
		}
	} else if want := "http://" + net.JoinHostPort(ip.String(), "8080") + "/"; got != want {
		t.Errorf("0.0.0.0: %q, want %q", got, want)
	}
	if strings.Contains(got, "token") {
		t.Errorf("token in %q", got)
	}
}

// A node with a player on every interface (and its token) links the page from Home
// Assistant's device, without the token, and takes the player as a destination.
func TestPlayerInDiscovery(t *testing.T) {
	const token = "tok-s3cr3t-player"
	port := peers.FreePort(t)
	t.Setenv("CAMNODE_NODE_ID", "player")
	t.Setenv("CAMNODE_HTTP", "0.0.0.0:"+strconv.Itoa(port))
	t.Setenv("CAMNODE_HTTP_TOKEN", token)
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n.Run(ctx) // runs the player once, and so closes its socket
	}()
	if n.PlayerURL() == "" || len(n.outputs()) == 0 {
		t.Fatalf("player %q, local outputs %d", n.PlayerURL(), len(n.outputs()))
	}
	var device string
	for _, m := range mqtt.DiscoveryMessages(n.discoveryTopics, n.device) {
		device = string(m.Payload)
		break
	}
	if pipeline.HostAddress() != nil && !strings.Contains(device, `"configuration_url":"http://`) {
		t.Errorf("no configuration_url in %s", device)
	}
	if strings.Contains(device, token) {
		t.Errorf("the token is in the discovery: %s", device)
	}
}
