package mqtt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseBrokerURL(t *testing.T) {
	tests := []struct {
		raw, dial, shown string
		tls              bool
		user, pass       string
	}{
		{"tcp://127.0.0.1:1883", "tcp://127.0.0.1:1883", "tcp://127.0.0.1:1883", false, "", ""},
		{"tcp://broker.lan", "tcp://broker.lan:1883", "tcp://broker.lan:1883", false, "", ""},
		{"mqtt://broker.lan", "tcp://broker.lan:1883", "tcp://broker.lan:1883", false, "", ""},
		{"ssl://broker.lan", "ssl://broker.lan:8883", "ssl://broker.lan:8883", true, "", ""},
		{"MQTTS://broker.lan:9883", "ssl://broker.lan:9883", "ssl://broker.lan:9883", true, "", ""},
		{"ws://broker.lan/mqtt", "ws://broker.lan:80/mqtt", "ws://broker.lan:80/mqtt", false, "", ""},
		{"wss://broker.lan/mqtt?token=abc", "wss://broker.lan:443/mqtt?token=abc", "wss://broker.lan:443/mqtt?****", true, "", ""},
		{"tcp://[::1]", "tcp://[::1]:1883", "tcp://[::1]:1883", false, "", ""},
		{"tcp://cam:s3cr%40t@broker.lan:1884", "tcp://broker.lan:1884", "tcp://broker.lan:1884", false, "cam", "s3cr@t"},
	}
	for _, tc := range tests {
		b, err := parseBrokerURL(tc.raw)
		if err != nil {
			t.Errorf("parseBrokerURL(%q): %v", tc.raw, err)
			continue
		}
		if b.dial.String() != tc.dial || b.redacted != tc.shown || b.tls != tc.tls || b.username != tc.user || b.password != tc.pass {
			t.Errorf("parseBrokerURL(%q) = dial %s shown %s tls %v user %q pass %q", tc.raw, b.dial, b.redacted, b.tls, b.username, b.password)
		}
	}

	for _, tc := range []struct{ raw, errHas string }{
		{"http://broker.lan", `scheme "http" not supported`},
		{"broker.lan:1883", "not supported"},
		{"tcp://", "has no host"},
		{"tcp://:1883", "has no host"},
		{"tcp://cam:xq%zz9@broker.lan", "percent-encode"},
		{"tcp://cam:xq/z9@broker.lan", "percent-encode"},
		{"tcp://broker lan", "not a valid URL"},
	} {
		_, err := parseBrokerURL(tc.raw)
		if err == nil || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("parseBrokerURL(%q) error %v, want one containing %q", tc.raw, err, tc.errHas)
			continue
		}
		for _, secret := range []string{"xq", "zz9", "z9"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("parseBrokerURL(%q) error %q shows %q", tc.raw, err, secret)
			}
		}
	}
}

// New fails on bad settings with a message that names the file or setting, never the password.
func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	topics := NewTopics("camnode", "n1", "homeassistant")
	const password = "hunter2-secret"
	tests := []struct {
		cfg    Config
		errHas string
	}{
		{Config{URL: "ssl://broker.lan", CAFile: missing}, missing},
		{Config{URL: "ssl://broker.lan", CAFile: junk}, junk + ": no PEM certificate"},
		{Config{URL: "ssl://broker.lan", CertFile: junk, KeyFile: missing}, "client certificate " + junk + " with key " + missing},
		{Config{URL: "ssl://broker.lan", CertFile: junk}, "without a key file"},
		{Config{URL: "mqtts://broker.lan", KeyFile: junk}, "without a certificate file"},
		{Config{URL: "tcp://broker.lan", CAFile: junk}, "is not TLS"},
		{Config{URL: "tcp://u:" + password + "@broker.lan", CAFile: junk}, "tcp://broker.lan:1883 is not TLS"},
		{Config{URL: "udp://broker.lan"}, `scheme "udp"`},
		{Config{URL: "tcp://broker.lan", Topics: NewTopics("camnode", "all", "")}, "reserved"},
	}
	for _, tc := range tests {
		tc.cfg.Password = password
		if tc.cfg.Topics.Base == "" {
			tc.cfg.Topics = topics
		}
		s, err := New(tc.cfg)
		if err == nil {
			t.Errorf("New(%+v) succeeded", tc.cfg)
			s.Close()
			continue
		}
		if !strings.Contains(err.Error(), tc.errHas) || strings.Contains(err.Error(), password) {
			t.Errorf("New(URL %s): error %q, want one containing %q and not the password", tc.cfg.URL, err, tc.errHas)
		}
	}
}
