package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// The hint a failed connection is logged with, for errors shaped as paho reports them
// (a network error wraps the dial error: "network Error : <cause>").
func TestConnectHint(t *testing.T) {
	network := func(err error) error { return fmt.Errorf("%w : %w", packets.ErrorNetworkError, err) }
	tests := []struct {
		name    string
		err     error
		overTLS bool
		want    string // part of the hint; "" for none
	}{
		{"not authorised", packets.ErrorRefusedNotAuthorised, false, "check the MQTT user name and password"},
		{"bad password", packets.ErrorRefusedBadUsernameOrPassword, true, "check the MQTT user name and password"},
		{"unknown CA", network(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), true, "set the MQTT CA file"},
		{"wrong host", network(&tls.CertificateVerificationError{Err: x509.HostnameError{Host: "broker.lan"}}), true, "not for the host"},
		{"expired", network(x509.CertificateInvalidError{Reason: x509.Expired}), true, "not valid"},
		{"alert", network(errors.New("remote error: tls: certificate required")), true, "check the client certificate"},
		{"reset over TLS", network(syscall.ECONNRESET), true, "may require a client certificate"},
		{"EOF over TLS", network(io.EOF), true, "may require a client certificate"},
		{"plain port", network(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), true, "does not speak TLS"},
		{"reset without TLS", network(syscall.ECONNRESET), false, ""},
		{"EOF without TLS", network(io.ErrUnexpectedEOF), false, "does not answer MQTT"},
		{"no answer", network(&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}), false, "does not answer MQTT"},
		{"broker down", network(syscall.ECONNREFUSED), true, ""},
		{"identifier", packets.ErrorRefusedIDRejected, false, ""},
	}
	for _, tc := range tests {
		got := connectHint(tc.err, tc.overTLS)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s (%v): hint %q, want one with %q", tc.name, tc.err, got, tc.want)
		}
	}
}

// A TLS file New cannot use is a *FileError saying which file, so the node can name its
// setting.
func TestNewFileError(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	topics := NewTopics("camnode", "n1", "")
	for _, tc := range []struct {
		cfg  Config
		file string
	}{
		{Config{URL: "ssl://b", CAFile: filepath.Join(dir, "missing.pem")}, FileCA},
		{Config{URL: "ssl://b", CAFile: junk}, FileCA},
		{Config{URL: "ssl://b", CertFile: junk, KeyFile: junk}, FileCert},
		{Config{URL: "ssl://b", CertFile: junk}, FileKey},
		{Config{URL: "ssl://b", KeyFile: junk}, FileCert},
	} {
		tc.cfg.Topics = topics
		_, err := New(tc.cfg)
		var fe *FileError
		if !errors.As(err, &fe) || fe.File != tc.file {
			t.Errorf("New(%+v): %v, want a FileError about the %s file", tc.cfg, err, tc.file)
		}
	}
}

// A broker URL that names another server's port (nginx-rtmp's 1935 here, a real one) is
// a failed connection whose log line says what is wrong, not a silent wait.
func TestNotAnMQTTPortIsSaidSo(t *testing.T) {
	ingest := peers.StartNginx(t)
	n := newTestNode(t, fmt.Sprintf("tcp://127.0.0.1:%d", ingest.Port), nil)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan error, 1)
	go func() { started <- n.Start(ctx) }()
	// nginx-rtmp waits for an RTMP handshake: the connection attempt times out (10 s).
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(n.logs.String(), "does not answer MQTT"); {
		if time.Now().After(deadline) {
			cancel()
			<-started
			t.Fatalf("log does not say why within 60 s:\n%s", n.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-started; err == nil {
		t.Fatal("connected to nginx-rtmp as to a broker")
	}
}

// A mirror published with PublishIfRoom gives way when the queue is half full: a flood of
// chat/in must leave room for the events and the state behind it.
func TestPublishIfRoomLeavesRoomForEvents(t *testing.T) {
	n := newTestNode(t, "tcp://127.0.0.1:1", nil) // never connects: the queue only fills
	mirrored := 0
	for range 2 * outboxQueue {
		if n.PublishIfRoom(n.topics.ChatIn, []byte(`{"text":"flood"}`)) {
			mirrored++
		}
	}
	if mirrored == 0 || mirrored > outboxQueue/2+1 {
		t.Fatalf("%d mirrored messages queued, want about half the queue (%d)", mirrored, outboxQueue/2)
	}
	before := len(n.outbox)
	for range 10 {
		n.PublishEvent("chat_rejected", "chat: 172 message(s) not drawn")
	}
	if got := len(n.outbox) - before; got != 10 {
		t.Fatalf("%d of 10 events queued behind the flood", got)
	}
}
