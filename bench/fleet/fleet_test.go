//go:build linux

package fleet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/bench/internal/figures"
	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/mqtt"
)

// wait bounds each step of the whole fleet on a loaded machine.
const wait = 5 * time.Minute

// BenchmarkFleet starts BENCH_FLEET_NODES (default 50) camnode processes (the binary
// BENCH_CAMNODE names, built without -race) on one Mosquitto, each playing a small clip
// from a file source into one nginx-rtmp under its own stream name, and reports:
//   - the time from `mosquitto_pub -t camnode/all/stream/set -m ON` to each node's retained
//     stream/state ON, as mosquitto_sub sees it: p50, p95, max;
//   - the devices in Home Assistant discovery;
//   - the fleet's total RSS while live;
//   - after the broker is killed and restarted empty: the time until every node has
//     published stream/state ON, online and discovery again.
func BenchmarkFleet(b *testing.B) {
	ctx := figures.Interruptible(b)
	bin := figures.MustEnv(b, "BENCH_CAMNODE")
	n := 50
	if v := os.Getenv("BENCH_FLEET_NODES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("BENCH_FLEET_NODES=%q", v)
		}
	}
	clip := makeClip(b)
	broker, ingest := peers.StartMosquitto(b), peers.StartNginx(b)
	sub := peers.Subscribe(b, broker, "camnode/#", "homeassistant/device/#")
	var ids []string
	var nodes []*exec.Cmd
	for i := range n {
		id := fmt.Sprintf("node-%03d", i+1)
		ids = append(ids, id)
		nodes = append(nodes, startNode(ctx, b, bin, id,
			"CAMNODE_NODE_ID="+id,
			"CAMNODE_MQTT_URL="+broker.URL(),
			"CAMNODE_RTMP_URL="+ingest.URL(id),
			"CAMNODE_SOURCE=file://"+clip,
			"CAMNODE_TELEMETRY_INTERVAL=1m",
			"CAMNODE_RECONNECT_MAX=5s",
		))
	}
	awaitEach(b, sub, 0, topics(ids, "availability"), "online")
	awaitEach(b, sub, 0, discovery(ids), "")
	awaitEach(b, sub, 0, topics(ids, "stream/state"), "OFF")

	var lat []time.Duration
	var rss int64
	var recovery time.Duration
	for b.Loop() {
		from := len(sub.Messages())
		sent := time.Now()
		publish(b, broker, "camnode/all/stream/set", "ON")
		for _, at := range awaitEach(b, sub, from, topics(ids, "stream/state"), "ON") {
			lat = append(lat, at.Sub(sent))
		}
		rss = 0
		for _, c := range nodes {
			r, err := peers.RSS(c.Process.Pid)
			if err != nil {
				b.Fatal(err)
			}
			rss += r
		}

		b.StopTimer()
		broker.Kill()
		killed := time.Now()
		broker.Start(b)
		after := peers.Subscribe(b, broker, "camnode/+/stream/state", "camnode/+/availability", "homeassistant/device/+/config")
		last := killed
		for _, set := range []map[string]time.Time{
			awaitEach(b, after, 0, topics(ids, "stream/state"), "ON"),
			awaitEach(b, after, 0, topics(ids, "availability"), "online"),
			awaitEach(b, after, 0, discovery(ids), ""),
		} {
			for _, at := range set {
				if at.After(last) {
					last = at
				}
			}
		}
		recovery = last.Sub(killed)
		from = len(after.Messages())
		publish(b, broker, "camnode/all/stream/set", "OFF")
		awaitEach(b, after, from, topics(ids, "stream/state"), "OFF")
		b.StartTimer()
	}
	figures.Report(b, fmt.Sprintf("Fleet: %d camnode processes on one Mosquitto, file source %s\n"+
		"  camnode/all/stream/set ON -> each stream/state ON: p50 %.0f ms, p95 %.0f ms, max %.0f ms\n"+
		"  %d devices in discovery; fleet RSS while live %.1f MB (%.1f MB per node)\n"+
		"  broker killed and restarted: all %d back (stream/state ON, online, discovery) %.1f s after the kill\n",
		n, filepath.Base(clip), figures.MS(figures.Percentile(lat, 50)), figures.MS(figures.Percentile(lat, 95)), figures.MS(figures.Percentile(lat, 100)),
		n, float64(rss)/1e6, float64(rss)/1e6/float64(n), n, recovery.Seconds()))
}

func topics(ids []string, rel string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = "camnode/" + id + "/" + rel
	}
	return out
}

func discovery(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = mqtt.DiscoveryTopic(mqtt.NewTopics("camnode", id, "homeassistant"))
	}
	return out
}

// awaitEach waits for payload on every topic (any non-empty payload for ""), from index from.
func awaitEach(b *testing.B, sub *peers.Sub, from int, topics []string, payload string) map[string]time.Time {
	b.Helper()
	at, missing := sub.AwaitEach(from, topics, func(m peers.Message) bool {
		return payload == "" && m.Payload != "" || m.Payload == payload
	}, wait)
	if len(missing) > 0 {
		b.Fatalf("%q: nothing within %v on %d of %d topics: %v", payload, wait, len(missing), len(topics), missing)
	}
	return at
}

func publish(b *testing.B, broker *peers.Mosquitto, topic, payload string) {
	b.Helper()
	peers.Publish(b, broker, topic, payload)
}

// makeClip writes a 320x180 10 fps clip, one keyframe a second: the small file source of
// every node.
func makeClip(b *testing.B) string {
	b.Helper()
	peers.Require(b, "ffmpeg")
	path := filepath.Join(b.TempDir(), "fleet-320x180-10fps.h264")
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=10",
		"-frames:v", "50", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline",
		"-pix_fmt", "yuv420p", "-g", "10", "-keyint_min", "10", "-sc_threshold", "0", "-b:v", "200k", "-f", "h264", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return path
}

// startNode runs one camnode with exactly env (plus PATH/HOME), its output in a file; the
// cleanup stops it with SIGTERM.
func startNode(ctx context.Context, b *testing.B, bin, id string, env ...string) *exec.Cmd {
	b.Helper()
	log, err := os.Create(filepath.Join(b.TempDir(), id+".log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		log.Close()
	})
	return cmd
}
