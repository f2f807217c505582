package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// camnode check against real Mosquitto (with a password) and nginx-rtmp: every line passes
// with good settings; each mistake a user makes fails its own line, naming the variable,
// and the exit code says so. No secret is printed.
func TestCheck(t *testing.T) {
	peers.Require(t, "mosquitto_passwd")
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	if out, err := exec.Command("mosquitto_passwd", "-b", "-c", pw, "cam", "right-pa55").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v %s", err, out)
	}
	broker := peers.StartMosquitto(t, "password_file "+pw)
	ingest := peers.StartNginx(t)
	// A port that accepts and never answers: what a wrong port often is.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	good := func() map[string]string {
		return map[string]string{
			"CAMNODE_NODE_ID": "checked", "CAMNODE_SOURCE": "testsrc", "CAMNODE_WIDTH": "320", "CAMNODE_HEIGHT": "240",
			"CAMNODE_MQTT_URL": broker.URL(), "CAMNODE_MQTT_USERNAME": "cam", "CAMNODE_MQTT_PASSWORD": "right-pa55",
			"CAMNODE_RTMP_URL": ingest.URL("sk-check-s3cr3t"), "CAMNODE_HTTP": "127.0.0.1:" + strconv.Itoa(peers.FreePort(t)),
			"CAMNODE_DANMAKU": "burn,sei",
		}
	}
	for _, tc := range []struct {
		name   string
		change map[string]string
		code   int
		want   []string
	}{
		{"all good", nil, 0, []string{"✓ settings:", "✓ camera: testsrc gives 320x240 raw pictures", "✓ encoder: x264",
			"✓ fonts:", "✓ broker: " + broker.URL() + " takes the node's connection", "✓ ingest: rtmp://" + ingest.Addr() + "/live/**** takes the publish", "✓ port:"}},
		{"wrong password", map[string]string{"CAMNODE_MQTT_PASSWORD": "wr0ng-s3cret"}, 1,
			[]string{"✗ broker (CAMNODE_MQTT_USERNAME):", "refuses the credentials", "fix: set CAMNODE_MQTT_USERNAME and CAMNODE_MQTT_PASSWORD"}},
		{"an RTMP port as the broker", map[string]string{"CAMNODE_MQTT_URL": "tcp://" + ingest.Addr()}, 1,
			[]string{"✗ broker (CAMNODE_MQTT_URL): tcp://" + ingest.Addr() + ": no MQTT answer within 5s: something listens there but does not speak MQTT"}},
		{"a port that never answers as the broker", map[string]string{"CAMNODE_MQTT_URL": "tcp://" + silent.Addr().String()}, 1,
			[]string{"✗ broker (CAMNODE_MQTT_URL): tcp://" + silent.Addr().String() + ": no MQTT answer within 5s", "is that the broker's MQTT port?"}},
		{"ingest refuses", map[string]string{"CAMNODE_RTMP_URL": "rtmp://" + ingest.Addr() + "/closed/sk-check-s3cr3t"}, 1,
			[]string{"✗ ingest (CAMNODE_RTMP_URL):", "refuses", "/closed/****"}},
		{"no ingest there", map[string]string{"CAMNODE_RTMP_URL": "rtmp://127.0.0.1:" + strconv.Itoa(peers.FreePort(t)) + "/live/sk-check-s3cr3t"}, 1,
			[]string{"✗ ingest (CAMNODE_RTMP_URL):", "connection refused", "fix: nothing listens there"}},
		{"port taken", map[string]string{"CAMNODE_HTTP": busy.Addr().String()}, 1,
			[]string{"✗ port (CAMNODE_HTTP): " + busy.Addr().String(), "address already in use"}},
		{"bad setting", map[string]string{"CAMNODE_FPS": "fast"}, 2,
			[]string{"✗ settings (CAMNODE_FPS): cannot parse \"fast\""}},
		{"camera that is not there", map[string]string{"CAMNODE_SOURCE": "exec:false"}, 1,
			[]string{"✗ camera (CAMNODE_SOURCE): exec:false: exec source: false ended: exit status 1", "fix: camnode probe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := good()
			for k, v := range tc.change {
				env[k] = v
			}
			p := startCamnode(t, env, "check", "-timeout", "20s")
			code := p.wait(t, 90*time.Second)
			out := p.Log()
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, secret := range []string{"right-pa55", "wr0ng-s3cret", "sk-check-s3cr3t"} {
				if strings.Contains(out, secret) {
					t.Fatalf("secret %q printed:\n%s", secret, out)
				}
			}
			if tc.code == 0 && strings.Contains(out, "✗") {
				t.Fatalf("exit 0 with a failed line:\n%s", out)
			}
			t.Logf("\n%s", out)
		})
	}
}

// The settings can come from the service's environment file.
func TestCheckEnvFile(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "garden.env")
	os.WriteFile(envFile, []byte("# a comment\n\nCAMNODE_SOURCE=testsrc\nCAMNODE_FPS=\"fast\"\n"), 0o600)
	p := startCamnode(t, map[string]string{"CAMNODE_NODE_ID": "checked"}, "check", "-env", envFile)
	if code := p.wait(t, 60*time.Second); code != 2 || !strings.Contains(p.Log(), `✗ settings (CAMNODE_FPS): cannot parse "fast"`) {
		t.Fatalf("exit %d:\n%s", code, p.Log())
	}
}

// camnode run takes no arguments: a flag there is a mistake, exit 2.
func TestRunWithAnArgument(t *testing.T) {
	var out, errb strings.Builder
	if code := run([]string{"run", "--foo"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `unexpected argument "--foo"`) {
		t.Fatalf("camnode run --foo: exit %d, %q", code, errb.String())
	}
}

// A camera that cannot be found fails the camera line with rpicam-vid's own words.
func TestCheckNoPiCamera(t *testing.T) {
	rpicamStandIn(t)
	p := startCamnode(t, map[string]string{"CAMNODE_NODE_ID": "checked", "CAMNODE_SOURCE": "rpicam",
		"RPICAM_STANDIN_NO_CAMERA": "1", "CAMNODE_MQTT_URL": "tcp://127.0.0.1:1"}, "check", "-timeout", "20s")
	if code := p.wait(t, 90*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, p.Log())
	}
	if !strings.Contains(p.Log(), "✗ camera (CAMNODE_SOURCE): rpicam: ") || !strings.Contains(p.Log(), "no cameras available") {
		t.Fatalf("no camera line:\n%s", p.Log())
	}
}
