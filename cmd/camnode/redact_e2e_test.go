package main

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// TestShortAndLongKeysRedactedEverywhere runs the real node with random stream keys of 1 to
// 64 characters (also the query token and the MQTT password) through a live stream, a bad
// command, a stop, and an ingest that refuses: no log line, event, state, telemetry or error
// shows the key as a URL part whatever its length, nor anywhere from 8 characters on, and
// ordinary words ("stream_started", "127.0.0.1", the node ID) stay intact.
func TestShortAndLongKeysRedactedEverywhere(t *testing.T) {
	peers.Require(t, "mosquitto_passwd")
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_"
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))
	key := func(min, max int) string {
		b := make([]byte, min+rng.IntN(max-min+1))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if b[0] == '-' || b[0] == '_' {
			b[0] = 'k'
		}
		return string(b)
	}
	ingest := peers.StartNginx(t)
	for _, k := range []string{key(1, 1), key(2, 4), key(5, 7), key(8, 64)} {
		t.Run("len"+string(rune('0'+len(k)/10))+string(rune('0'+len(k)%10)), func(t *testing.T) {
			t.Logf("key %q", k)
			pw := filepath.Join(t.TempDir(), "passwd")
			if out, err := exec.Command("mosquitto_passwd", "-c", "-b", pw, "camnode", k).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
			}
			os.Chmod(pw, 0o644)
			broker := peers.StartMosquitto(t, "password_file "+pw)
			sub := peers.Subscribe(t, broker, "#")
			env := map[string]string{"CAMNODE_NODE_ID": "garden", "CAMNODE_MQTT_URL": broker.URL(), "CAMNODE_MQTT_USERNAME": "camnode",
				"CAMNODE_MQTT_PASSWORD": k, "CAMNODE_SOURCE": "testsrc", "CAMNODE_WIDTH": "320", "CAMNODE_HEIGHT": "240",
				"CAMNODE_AUTOSTART": "true", "CAMNODE_TELEMETRY_INTERVAL": "1s", "CAMNODE_LOG_LEVEL": "debug",
				"CAMNODE_RTMP_URL": "rtmp://" + ingest.Addr() + "/live/" + k + "?token=" + k}
			wait := func(what string, match func(peers.Message) bool) {
				t.Helper()
				if _, ok := sub.WaitFor(match, 60*time.Second); !ok {
					t.Fatalf("no %s within 60 s", what)
				}
			}
			on := func(topic, has string) func(peers.Message) bool {
				return func(m peers.Message) bool { return m.Topic == topic && strings.Contains(m.Payload, has) }
			}
			live := startCamnode(t, env)
			wait("stream ON", on("camnode/garden/stream/state", "ON"))
			wait("telemetry", on("camnode/garden/telemetry", "frames_sent"))
			peers.Publish(t, broker, "camnode/garden/stream/set", `{"state":"sideways"}`)
			wait("command_rejected", on("camnode/garden/event", "sideways"))
			peers.Publish(t, broker, "camnode/garden/stream/set", "OFF")
			wait("stream_stopped", on("camnode/garden/event", "stream_stopped"))
			live.cmd.Process.Signal(syscall.SIGTERM)
			if code := live.wait(t, 60*time.Second); code != 0 {
				t.Fatalf("exit %d", code)
			}

			env["CAMNODE_RTMP_URL"] = "rtmp://" + ingest.Addr() + "/closed/" + k + "?token=" + k
			refused := startCamnode(t, env)
			wait("rtmp_rejected", on("camnode/garden/event", "rtmp_rejected"))
			wait("state error", func(m peers.Message) bool {
				return m.Topic == "camnode/garden/state" && strings.Contains(m.Payload, `"state":"error"`)
			})
			refused.cmd.Process.Signal(syscall.SIGTERM)
			refused.wait(t, 60*time.Second)

			var all strings.Builder
			all.WriteString(live.Log() + "\n" + refused.Log() + "\n")
			for _, m := range sub.Messages() {
				all.WriteString(m.Topic + " " + m.Payload + "\n")
			}
			out := all.String()
			q := regexp.QuoteMeta(k)
			end := `(?:$|[^A-Za-z0-9_-])`
			if len(k) >= 8 && strings.Contains(out, k) {
				t.Fatalf("key %q shows:\n%s", k, out)
			}
			for _, re := range []string{`/live/` + q + end, `/closed/` + q + end, `token=` + q + end, `camnode:` + q + `@`} {
				if regexp.MustCompile(re).MatchString(out) {
					t.Fatalf("key %q shows as a URL part (%s):\n%s", k, re, out)
				}
			}
			for _, word := range []string{"stream_started", "stream_stopped", "rtmp_rejected", "command_rejected", "127.0.0.1", "garden",
				"/live/****?token=****", "/closed/****?token=****", `unknown switch value \"sideways\"`, "frames_sent"} {
				if len(k) >= 8 && strings.Contains(word, k) {
					continue
				}
				if !strings.Contains(out, word) {
					t.Errorf("key %q: %q is not intact in what camnode printed and published:\n%s", k, word, out)
				}
			}
		})
	}
}
