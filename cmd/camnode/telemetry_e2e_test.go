package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/mqtt"
)

// Telemetry against reality: over 30 s of streaming a clip whose true frame and bit rates
// are known from the file itself, the fps and bitrate_kbps the node reports are within 5%
// of them; rss_bytes is the process's own resident size as the kernel reports it; the CPU
// temperature is what the thermal zone says, or absent where there is none.
func TestTelemetryMatchesTheSource(t *testing.T) {
	const (
		clipFrames = 150 // 5 s at 30 fps; the window below spans whole loops of it
		clipFPS    = 30.0
		window     = 30 // telemetry messages, one a second
	)
	clip := makeClip(t, "640x360", clipFrames, 30)
	st, err := os.Stat(clip)
	if err != nil {
		t.Fatal(err)
	}
	// The source's true rates: the file source replays the clip in a loop at its frame
	// rate, so every second carries clipFPS frames and size/duration bits.
	trueKbps := float64(st.Size()) * 8 / 1000 / (clipFrames / clipFPS)

	r := newRig(t, "telemetry", clip)
	node := startCamnode(t, r.env)
	r.await(t, 0, "availability", is("online"), "online")
	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "ON")
	r.await(t, from, "state", func(s string) bool { return strings.Contains(s, `"state":"live"`) }, "state live")
	time.Sleep(2 * time.Second) // the first interval holds the connection set-up

	var samples []map[string]any
	var rssSeen []int64
	from = len(r.sub.Messages())
	deadline := time.Now().Add((window + 15) * time.Second)
	for len(samples) < window+1 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d telemetry messages within %d s", len(samples), window+15)
		}
		msgs := r.sub.Messages()
		for ; from < len(msgs) && len(samples) < window+1; from++ {
			if msgs[from].Topic != r.topic("telemetry") {
				continue
			}
			if kb, err := vmRSS(node.cmd.Process.Pid); err == nil {
				rssSeen = append(rssSeen, kb*1024)
			}
			var s map[string]any
			if err := json.Unmarshal([]byte(msgs[from].Payload), &s); err != nil {
				t.Fatalf("telemetry %q: %v", msgs[from].Payload, err)
			}
			samples = append(samples, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	num := func(s map[string]any, k string) float64 {
		v, ok := s[k].(float64)
		if !ok {
			t.Fatalf("telemetry field %s = %v (%T) in %v", k, s[k], s[k], s)
		}
		return v
	}

	// The reported rates, averaged over the window, against the truth.
	var fpsSum, kbpsSum float64
	for _, s := range samples[1:] {
		fpsSum += num(s, "fps")
		kbpsSum += num(s, "bitrate_kbps")
	}
	fps, kbps := fpsSum/window, kbpsSum/window
	within := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 0.05*want {
			t.Errorf("%s: reported %.2f, source's true rate %.2f (%.1f%% off, more than 5%%)", name, got, want, 100*(got-want)/want)
		}
	}
	within("fps", fps, clipFPS)
	within("bitrate_kbps", kbps, trueKbps)

	// The counters tell the same story, measured on the node's own uptime clock.
	first, last := samples[0], samples[window]
	dt := num(last, "uptime_s") - num(first, "uptime_s")
	if dt < window-2 || dt > window+2 {
		t.Fatalf("uptime_s advanced %.1f s over %d messages a second apart", dt, window)
	}
	within("frames_sent per second", (num(last, "frames_sent")-num(first, "frames_sent"))/dt, clipFPS)
	within("bytes_sent in kbit/s", (num(last, "bytes_sent")-num(first, "bytes_sent"))*8/1000/dt, trueKbps)
	if su := num(last, "stream_uptime_s") - num(first, "stream_uptime_s"); math.Abs(su-dt) > 1 {
		t.Errorf("stream_uptime_s advanced %.1f s while uptime_s advanced %.1f s", su, dt)
	}
	if d := num(last, "frames_dropped"); d != 0 {
		t.Errorf("frames_dropped %v on loopback", d)
	}
	t.Logf("source: %.1f fps, %.1f kbit/s; reported over %.1f s: %.2f fps, %.1f kbit/s", clipFPS, trueKbps, dt, fps, kbps)

	// rss_bytes is this process's resident size: inside the range the kernel showed for it.
	slices.Sort(rssSeen)
	if len(rssSeen) < window/2 {
		t.Fatalf("could read the node's VmRSS only %d times", len(rssSeen))
	}
	lo, hi := float64(rssSeen[0])*0.8, float64(rssSeen[len(rssSeen)-1])*1.2
	for _, s := range samples {
		if rss := num(s, "rss_bytes"); rss < lo || rss > hi || rss < 4<<20 {
			t.Errorf("rss_bytes %.0f outside the process's VmRSS range [%d, %d]", rss, rssSeen[0], rssSeen[len(rssSeen)-1])
			break
		}
	}

	// CPU temperature: present and right where the machine has a thermal zone, absent
	// (not 0) where it has none.
	checkCPUTemp(t, last, "/sys/class/thermal/thermal_zone0/temp")

	// Every telemetry field a Home Assistant sensor reads is in the real payload.
	checkDiscoveryFields(t, last)
}

// checkCPUTemp compares cpu_temp_c with the thermal zone file (millidegrees), or checks
// that it is absent when the file is.
func checkCPUTemp(t *testing.T, sample map[string]any, zone string) {
	t.Helper()
	raw, err := os.ReadFile(zone)
	v, present := sample["cpu_temp_c"]
	if err != nil {
		if present {
			t.Errorf("cpu_temp_c = %v on a machine without %s: should be absent", v, zone)
		}
		return
	}
	milli, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("%s: %q", zone, raw)
	}
	c, ok := v.(float64)
	if !ok || math.Abs(c-float64(milli)/1000) > 3 {
		t.Errorf("cpu_temp_c = %v, %s says %.1f °C", v, zone, float64(milli)/1000)
	}
}

var valueJSONField = regexp.MustCompile(`value_json\.([a-z_0-9]+)`)

// checkDiscoveryFields: each value_template of the telemetry sensors names a field the
// node really publishes (cpu_temp_c only where there is a sensor).
func checkDiscoveryFields(t *testing.T, sample map[string]any) {
	t.Helper()
	topics := mqtt.NewTopics("camnode", "telemetry", "homeassistant")
	var root struct {
		Cmps map[string]map[string]any `json:"cmps"`
	}
	msg := mqtt.DiscoveryMessages(topics, mqtt.DeviceInfo{CPUTemperature: true})[0]
	if err := json.Unmarshal(msg.Payload, &root); err != nil {
		t.Fatal(err)
	}
	for key, c := range root.Cmps {
		if c["state_topic"] != topics.Telemetry {
			continue
		}
		for _, m := range valueJSONField.FindAllStringSubmatch(c["value_template"].(string), -1) {
			if _, ok := sample[m[1]]; !ok && m[1] != "cpu_temp_c" {
				t.Errorf("Home Assistant sensor %s reads %s, which the node's telemetry lacks: %v", key, m[1], sample)
			}
		}
	}
}

// vmRSS reads the resident set size of a process in kB from /proc/<pid>/status.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// A board with a thermal sensor: the node runs in its own mount namespace where
// /sys/class/thermal holds one zone at 48.312 °C, and reports 48.3.
func TestTelemetryCPUTemperatureFromThermalZone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a mount namespace (CI runs as root)")
	}
	peers.Require(t, "unshare")
	if _, err := os.Stat("/sys/class/thermal"); err != nil {
		t.Skip("no /sys/class/thermal to mount over")
	}
	fake := t.TempDir()
	if err := os.MkdirAll(filepath.Join(fake, "thermal_zone0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fake, "thermal_zone0", "temp"), []byte("48312\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := peers.StartMosquitto(t)
	sub := peers.Subscribe(t, b, "camnode/thermal/telemetry")
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount --bind "$1" /sys/class/thermal && exec "$2"`, "sh", fake, camnodeBin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "CAMNODE_NODE_ID=thermal", "CAMNODE_MQTT_URL=" + b.URL(),
		"CAMNODE_TELEMETRY_INTERVAL=1s", "CAMNODE_SOURCE=testsrc"}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("camnode log:\n%s", p.Log())
		}
	})
	m, ok := sub.WaitFor(func(m peers.Message) bool { return m.Topic == "camnode/thermal/telemetry" }, 20*time.Second)
	if !ok {
		t.Fatalf("no telemetry")
	}
	var s map[string]any
	if err := json.Unmarshal([]byte(m.Payload), &s); err != nil {
		t.Fatal(err)
	}
	if s["cpu_temp_c"] != 48.3 {
		t.Fatalf("cpu_temp_c = %v with a thermal zone at 48312 m°C: %s", s["cpu_temp_c"], m.Payload)
	}
}
