//go:build vmtest

package vmtest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// vmEnv are the files scripts/ci/vm.sh builds and names.
func vmEnv(t *testing.T) (run, camnode, feeder, clip string) {
	t.Helper()
	for _, kv := range [][2]string{{"CAMNODE_VM_RUN", ""}, {"CAMNODE_VM_CAMNODE", ""}, {"CAMNODE_VM_H264FEED", ""}, {"CAMNODE_VM_CLIP", ""}} {
		if os.Getenv(kv[0]) == "" {
			t.Fatalf("%s is not set: run this test through scripts/ci/vm.sh", kv[0])
		}
	}
	return os.Getenv("CAMNODE_VM_RUN"), os.Getenv("CAMNODE_VM_CAMNODE"), os.Getenv("CAMNODE_VM_H264FEED"), os.Getenv("CAMNODE_VM_CLIP")
}

// console collects the VM's serial console (the guest camnode's log among it).
type console struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *console) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(b)
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// guest is camnode running in the VM, configured by env, with the host's broker reached
// through QEMU's guestfwd relay (10.0.2.100:1883, one relay per connection) and the
// host's ingest at 10.0.2.2.
type guest struct {
	cmd   *exec.Cmd
	out   *console
	share string
	done  chan error
}

// vmX264 is the host's libx264 (scripts/deps.sh installs libx264-164), copied into the guest
// when a test needs an encoder.
const vmX264 = "/usr/lib/x86_64-linux-gnu/libx264.so.164"

// guestLibs are the shared libraries files need (ldd's answer, the dynamic loader
// included), to be copied into the guest at the host's paths: the guest has no libc of its
// own, as a Pi's root file system has its own.
func guestLibs(t *testing.T, files ...string) []string {
	t.Helper()
	seen := map[string]bool{}
	var libs []string
	for _, f := range files {
		out, err := exec.Command("ldd", f).CombinedOutput()
		if err != nil {
			t.Fatalf("ldd %s: %v\n%s", f, err, out)
		}
		for _, field := range strings.Fields(string(out)) {
			if strings.HasPrefix(field, "/") && !seen[field] {
				seen[field] = true
				libs = append(libs, field)
			}
		}
	}
	if len(libs) == 0 {
		t.Fatalf("ldd names no library for %v: not dynamically linked?", files)
	}
	return libs
}

// bootCamnode boots the VM with the dynamically linked camnode (as `make release` builds it)
// and the glibc it needs; with x264 the guest gets libx264 too, without it the guest has no
// libx264 at all, as a Pi where the package is not installed.
func bootCamnode(t *testing.T, broker *peers.Mosquitto, ingest *peers.Nginx, x264 bool, env, extra map[string]string) *guest {
	t.Helper()
	env = maps.Clone(env)
	maps.Copy(env, extra)
	run, camnode, feeder, clip := vmEnv(t)
	share := t.TempDir()
	var pre []string
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		pre = append(pre, fmt.Sprintf("export %s='%s'", k, env[k]))
	}
	// The feeder plays the 1280x720 clip (GOP 30) into the loopback at 30 fps. The host
	// ends camnode by creating /mnt/host/stop: SIGTERM, a clean exit, the VM powers off.
	pre = append(pre, "/h264feed -dev /dev/video10 -fps 30 -w 1280 -h 720 /clip.h264 >/dev/null &",
		"(while [ ! -e /mnt/host/stop ]; do sleep 0.2; done; kill -TERM $(pidof test)) &")
	args := []string{"--loopback", "video_nr=10 exclusive_caps=1", "--share", share,
		"--add", clip + ":/clip.h264", "--add", feeder + ":/h264feed",
		"--netopt", fmt.Sprintf("guestfwd=tcp:10.0.2.100:1883-cmd:busybox nc 127.0.0.1 %d", broker.Port),
		"--pre", strings.Join(pre, "\n"), "--timeout", "240"}
	libs := guestLibs(t, camnode)
	if x264 {
		libs = append(libs, vmX264)
		libs = append(libs, guestLibs(t, vmX264)...)
	}
	for _, lib := range slices.Compact(slices.Sorted(slices.Values(libs))) {
		args = append(args, "--add", lib+":"+lib)
	}
	args = append(args, camnode)
	g := &guest{cmd: exec.Command(run, args...), out: &console{}, share: share, done: make(chan error, 1)}
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	// RESTRICT=off: slirp also NATs the guest's own connections, so the ingest is
	// reached at 10.0.2.2 (the host's 127.0.0.1) the way a Pi reaches a server. Through
	// a guestfwd "cmd:" relay, the RTMP stream crawled at 2-8 fps in this VM while bulk
	// copies and small round trips through the same relay were fast.
	g.cmd.Env = append(os.Environ(), "CONSOLE_LOG="+filepath.Join(share, "console.log"), "RESTRICT=off")
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.done <- g.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-g.done:
		default:
			g.cmd.Process.Kill()
			<-g.done
		}
		if t.Failed() {
			t.Logf("VM console:\n%s", g.out.String())
		}
	})
	return g
}

// stop asks the guest camnode to exit and waits for the VM; it returns camnode's exit code
// as scripts/vm/run.sh passes it on.
func (g *guest) stop(t *testing.T) int {
	t.Helper()
	if err := os.WriteFile(filepath.Join(g.share, "stop"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-g.done:
		g.done <- err // for the cleanup
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(60 * time.Second):
		t.Fatal("the VM did not power off within 60 s of the stop request")
		return -1
	}
}

func await(t *testing.T, sub *peers.Sub, from int, topic string, ok func(string) bool, what string, timeout time.Duration) peers.Message {
	t.Helper()
	m, found := sub.WaitNext(from, func(m peers.Message) bool { return m.Topic == topic && ok(m.Payload) }, timeout)
	if !found {
		var seen []string
		for _, m := range sub.Messages()[from:] {
			seen = append(seen, m.Topic+" "+m.Payload)
		}
		t.Fatalf("no %s on %s within %v; seen:\n%s", what, topic, timeout, strings.Join(seen, "\n"))
	}
	return m
}

func contains(s string) func(string) bool {
	return func(p string) bool { return strings.Contains(p, s) }
}

// firstKeyframe watches nginx's new recording of stream (one not in old) as nginx writes it and returns when the
// first keyframe video tag arrived, or false after the timeout.
//
// FLV: a 9-byte header and a 4-byte previous-tag-size, then tags: type (8 audio, 9 video,
// 18 script), 3-byte data size, 4 bytes of timestamp, 3-byte stream id, the data, and a
// 4-byte previous-tag-size. Video data starts with frame type (1 = key) << 4 | codec id,
// then for AVC the packet type (0 sequence header, 1 NAL units).
func firstKeyframe(ingest *peers.Nginx, stream string, old []string, timeout time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, rec := range ingest.Recordings(stream) {
			if slices.Contains(old, rec) {
				continue
			}
			b, _ := os.ReadFile(rec)
			for i := 13; i+11 <= len(b); {
				size := int(binary.BigEndian.Uint32(append([]byte{0}, b[i+1:i+4]...)))
				if i+11+size > len(b) {
					break
				}
				if d := b[i+11 : i+11+size]; b[i] == 9 && len(d) >= 2 && d[0]>>4 == 1 && d[1] == 1 {
					return time.Now(), true
				}
				i += 11 + size + 4
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Time{}, false
}

// TestVMCamnodeStreamsLoopbackCamera: the real camnode binary in the VM, its camera the
// v4l2loopback device fed with H.264, its broker and ingest on the host. It publishes
// state and telemetry, streams to nginx-rtmp on `stream/set ON`, stops on OFF, and the
// recordings decode at the camera's size.
func TestVMCamnodeStreamsLoopbackCamera(t *testing.T) {
	// The loopback camera has no force-key-frame control: the keyframe comes with the
	// clip's 1 s GOP.
	waits := streamRounds(t, "v4l2:///dev/video10", 1280, 720, "2s", 3, false, nil)
	t.Logf("FIGURE stream/set ON -> first keyframe at nginx, v4l2 camera without force-key-frame control (GOP 1 s): %v", waits)
}

// TestVMCamnodeEncodesRawCamera: vivid offers raw formats only (no H.264), as many USB
// webcams do. The real camnode in the VM captures its raw frames, draws danmaku into them
// (burn) and encodes them with libx264, opened at run time; the recording decodes at
// the camera's size.
func TestVMCamnodeEncodesRawCamera(t *testing.T) {
	waits := streamRounds(t, "v4l2:///dev/video0", 320, 180, "1s", 1, true, map[string]string{"CAMNODE_DANMAKU": "burn,sei"})
	t.Logf("FIGURE stream/set ON -> first keyframe at nginx, raw vivid camera encoded by x264: %v", waits)
}

// TestVMFigureForcedKeyframe is for the closing note (VM_FIGURES=1): the same with a
// source that makes a keyframe on request, the live test pattern encoded by x264 with a
// 10 s GOP, as a camera with the force-key-frame control does.
func TestVMFigureForcedKeyframe(t *testing.T) {
	waits := streamRounds(t, "testsrc", 320, 240, "10s", 3, true, nil)
	t.Logf("FIGURE stream/set ON -> first keyframe at nginx, source honouring keyframe requests (GOP 10 s): %v", waits)
}

// streamRounds boots camnode on source and runs ON/OFF rounds: each starts a recording,
// and times the first keyframe at the ingest from the moment `stream/set ON` was
// published. It checks state, telemetry and the recordings, and returns the times.
func streamRounds(t *testing.T, source string, width, height int, gop string, rounds int, x264 bool, extra map[string]string) []time.Duration {
	broker, ingest := peers.StartMosquitto(t), peers.StartNginx(t)
	const id = "vmcam"
	base := "camnode/" + id
	sub := peers.Subscribe(t, broker, base+"/#")
	stream := "vm-" + fmt.Sprint(time.Now().UnixNano())
	g := bootCamnode(t, broker, ingest, x264, map[string]string{
		"CAMNODE_NODE_ID":            id,
		"CAMNODE_MQTT_URL":           "tcp://10.0.2.100:1883",
		"CAMNODE_RTMP_URL":           fmt.Sprintf("rtmp://10.0.2.2:%d/live/%s", ingest.Port, stream),
		"CAMNODE_SOURCE":             source,
		"CAMNODE_WIDTH":              fmt.Sprint(width),
		"CAMNODE_HEIGHT":             fmt.Sprint(height),
		"CAMNODE_FPS":                "30",
		"CAMNODE_GOP":                gop,
		"CAMNODE_TELEMETRY_INTERVAL": "1s",
		"CAMNODE_HA_DISCOVERY":       "false",
		"CAMNODE_LOG_LEVEL":          "debug",
	}, extra)
	boot := 90 * time.Second // TCG: the guest boots in ~5 s, but a loaded CI machine is slower
	await(t, sub, 0, base+"/availability", contains("online"), "availability online", boot)
	await(t, sub, 0, base+"/state", contains(`"state":"idle"`), "state idle", 20*time.Second)
	tel := await(t, sub, 0, base+"/telemetry", contains(`"uptime_s"`), "telemetry", 20*time.Second)
	t.Logf("telemetry before streaming: %s", tel.Payload)

	var waits []time.Duration
	for round := 1; round <= rounds; round++ {
		from := len(sub.Messages())
		old := ingest.Recordings(stream)
		on := time.Now()
		peers.Publish(t, broker, base+"/stream/set", "ON")
		kf, ok := firstKeyframe(ingest, stream, old, 20*time.Second)
		if !ok {
			t.Fatalf("round %d: no keyframe at the ingest within 20 s of stream/set ON", round)
		}
		waits = append(waits, kf.Sub(on).Round(time.Millisecond))
		live := await(t, sub, from, base+"/state", contains(`"state":"live"`), "state live", 20*time.Second)
		var st map[string]any
		if err := json.Unmarshal([]byte(live.Payload), &st); err != nil {
			t.Fatalf("state %q: %v", live.Payload, err)
		}
		scheme, _, _ := strings.Cut(source, ":")
		if src, _ := st["source"].(string); !strings.HasPrefix(src, scheme) || st["width"] != float64(width) || st["height"] != float64(height) {
			t.Errorf("state %s, want source %s at %dx%d", live.Payload, source, width, height)
		}
		time.Sleep(3 * time.Second)
		streaming := await(t, sub, len(sub.Messages()), base+"/telemetry", contains(`"frames_sent"`), "telemetry while live", 10*time.Second)
		var tm struct {
			FPS        float64 `json:"fps"`
			FramesSent int     `json:"frames_sent"`
			Keyframes  int     `json:"keyframes"`
		}
		json.Unmarshal([]byte(streaming.Payload), &tm)
		if tm.FramesSent < 30 || tm.Keyframes < 1 || tm.FPS < 20 {
			t.Errorf("round %d: telemetry while live: %s", round, streaming.Payload)
		}
		from = len(sub.Messages())
		peers.Publish(t, broker, base+"/stream/set", "OFF")
		await(t, sub, from, base+"/stream/state", contains("OFF"), "stream/state OFF", 20*time.Second)
		recs := ingest.WaitPublishEnded(t, stream, round, 20*time.Second)
		if len(recs) != round {
			t.Fatalf("round %d: recordings %v", round, recs)
		}
		time.Sleep(1100 * time.Millisecond) // nginx names recordings by the second
	}
	if code := g.stop(t); code != 0 {
		t.Fatalf("camnode in the VM exited %d after SIGTERM, want 0", code)
	}
	for _, rec := range ingest.Recordings(stream) {
		v := peers.ProbeVideo(t, rec)
		if v.Codec != "h264" || v.Width != width || v.Height != height || v.DecodeErrors != "" || v.Frames < 60 ||
			len(v.Packets) == 0 || !v.Packets[0].Keyframe || v.MonotonicDTS() >= 0 {
			t.Errorf("%s: %s %dx%d, %d frames, first keyframe %v, DTS break at %d, decode errors %q",
				rec, v.Codec, v.Width, v.Height, v.Frames, len(v.Packets) > 0 && v.Packets[0].Keyframe, v.MonotonicDTS(), v.DecodeErrors)
		}
	}
	for _, line := range strings.Split(g.out.String(), "\n") {
		if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") ||
			strings.HasPrefix(line, "time=") && (strings.Contains(line, "panic") || strings.Contains(line, "source_failed")) {
			t.Errorf("guest camnode: %s", line)
		}
	}
	return waits
}
