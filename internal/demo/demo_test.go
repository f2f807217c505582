package demo

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

func TestListenFreePortKeepsAddress(t *testing.T) {
	want := "127.0.0.1:" + strconv.Itoa(peers.FreePort(t))
	ln, fellBack, err := Listen(want)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if fellBack || ln.Addr().String() != want {
		t.Fatalf("Listen(%s) = %s fellBack=%v, want the asked address and no fallback", want, ln.Addr(), fellBack)
	}
}

func TestListenFallsBackWhenPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	ln, fellBack, err := Listen(taken.Addr().String())
	if err != nil {
		t.Fatalf("Listen on a taken port: %v", err)
	}
	defer ln.Close()
	if !fellBack {
		t.Fatalf("Listen(%s) did not report the fallback", taken.Addr())
	}
	got := ln.Addr().(*net.TCPAddr)
	if got.Port == taken.Addr().(*net.TCPAddr).Port || !got.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("fallback address %s: want another port on 127.0.0.1 than %s", got, taken.Addr())
	}
	// The fallback listener is real: it accepts a connection.
	c, err := net.Dial("tcp", got.String())
	if err != nil {
		t.Fatalf("dial fallback %s: %v", got, err)
	}
	c.Close()
}

func TestListenOtherErrorsAreNotHidden(t *testing.T) {
	ln, fellBack, err := Listen("127.0.0.1:notaport")
	if err == nil {
		ln.Close()
		t.Fatal("Listen on a bad address succeeded")
	}
	if fellBack || !strings.Contains(err.Error(), "127.0.0.1:notaport") {
		t.Fatalf("error %q (fellBack=%v) should name the address and not fall back", err, fellBack)
	}
}

func startBroker(t *testing.T, logger *slog.Logger) *Broker {
	t.Helper()
	peers.Require(t, "mosquitto_pub", "mosquitto_sub")
	ln, _, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := StartBroker(ln, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// mosquitto runs a Mosquitto command-line client against the broker and returns its stdout.
func mosquitto(t *testing.T, b *Broker, program string, args ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(b.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, program, append([]string{"-h", host, "-p", port}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", program, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func TestBrokerKeepsRetainedMessage(t *testing.T) {
	b := startBroker(t, nil)
	mosquitto(t, b, "mosquitto_pub", "-q", "1", "-r", "-t", "camnode/garden/stream/state", "-m", "ON")
	mosquitto(t, b, "mosquitto_pub", "-q", "1", "-t", "camnode/garden/event", "-m", "not retained")

	// A subscriber that connects afterwards gets the retained message, flagged retained, and
	// not the plain one. -W ends it if nothing comes.
	got := mosquitto(t, b, "mosquitto_sub", "-q", "1", "-C", "1", "-W", "5", "-F", "%r %t %p", "-t", "camnode/garden/#")
	if want := "1 camnode/garden/stream/state ON\n"; got != want {
		t.Fatalf("late subscriber got %q, want %q", got, want)
	}
}

func TestBrokerDeliversLastWill(t *testing.T) {
	b := startBroker(t, nil)
	// A client with a retained last will, like camnode's availability topic, dies without
	// DISCONNECT: the broker must publish the will.
	will := exec.Command("mosquitto_sub", "-h", "127.0.0.1", "-p", strconv.Itoa(port(t, b)),
		"-t", "camnode/garden/stream/set", "-i", "garden",
		"--will-topic", "camnode/garden/availability", "--will-payload", "offline", "--will-retain", "--will-qos", "1")
	if err := will.Start(); err != nil {
		t.Fatal(err)
	}
	defer will.Wait()
	waitFor(t, "the will client to connect", func() bool { return atomic.LoadInt64(&b.server.Info.ClientsConnected) == 1 })
	will.Process.Signal(syscall.SIGKILL)
	waitFor(t, "the will client to be gone", func() bool { return atomic.LoadInt64(&b.server.Info.ClientsConnected) == 0 })

	got := mosquitto(t, b, "mosquitto_sub", "-C", "1", "-W", "5", "-F", "%r %t %p", "-t", "camnode/garden/availability")
	if want := "1 camnode/garden/availability offline\n"; got != want {
		t.Fatalf("after the client died, subscriber got %q, want %q", got, want)
	}
}

func port(t *testing.T, b *Broker) int {
	_, p, err := net.SplitHostPort(b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBrokerCloseStopsListening(t *testing.T) {
	b := startBroker(t, nil)
	mosquitto(t, b, "mosquitto_pub", "-t", "x", "-m", "y")
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	c, err := net.DialTimeout("tcp", b.Addr(), time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Close", b.Addr())
	}
}

func TestBrokerLogsQuietlyWithoutPackets(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	b := startBroker(t, logger)
	mosquitto(t, b, "mosquitto_pub", "-u", "cam", "-P", "hunter2", "-t", "x", "-m", "y")
	b.Close()
	// mochi announces start, listener, hook and stop at info: at the demo's info level none
	// of that shows.
	if buf.Len() != 0 {
		t.Fatalf("broker logged at info level:\n%s", buf.String())
	}

	// One step down: info becomes debug, errors warnings; packets (which carry the CONNECT
	// password) are never passed on.
	buf.Reset()
	debug := slog.New(quietHandler{next: slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})}).With("pk", "password=hunter2")
	debug.Info("client connected", "client", "cam")
	debug.Warn("error processing packet", "packet", "password=hunter2", "client", "cam")
	debug.Error("publish packet error", "client", "cam")
	out := buf.String()
	for _, want := range []string{"level=DEBUG msg=\"client connected\"", "level=DEBUG msg=\"error processing packet\"", "level=WARN msg=\"publish packet error\"", "client=cam"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("log shows a packet with the password:\n%s", out)
	}
}
