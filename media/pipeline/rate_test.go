package pipeline

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/audio"
	"github.com/camnode/camnode/media/httpflv"
	"github.com/camnode/camnode/media/stream"
)

// Whole GOPs from the first keyframe, over rateSpan: the keyframe that ends the span is
// not counted, and a stream without keyframes is measured over rateSpanMax.
func TestRateMeter(t *testing.T) {
	unit := func(at time.Duration, key bool, size int) *media.AccessUnit {
		return &media.AccessUnit{Time: at, Keyframe: key, NALUs: [][]byte{make([]byte, size)}}
	}
	var m rateMeter
	if _, ok := m.add(unit(0, false, 5000)); ok { // before the first keyframe: not counted
		t.Fatal("measured from a unit before any keyframe")
	}
	for i := 0; i < 180; i++ { // 6 s at 30 fps, a keyframe every second, 1 kB + 500 B
		at := time.Second + time.Duration(i)*time.Second/30
		size := 500
		if i%30 == 0 {
			size = 1000
		}
		if kbps, ok := m.add(unit(at, i%30 == 0, size)); ok {
			// 5 GOPs of 1000 + 29*500 bytes over 5 s: 124 kbit/s.
			if i != 150 || kbps != 124 {
				t.Fatalf("measured %v kbit/s at unit %d, want 124 at unit 150", kbps, i)
			}
		} else if i == 150 {
			t.Fatal("not measured at the keyframe 5 s after the first")
		}
	}
	if _, ok := m.add(unit(10*time.Second, true, 1)); ok {
		t.Fatal("measured twice")
	}
	var long rateMeter
	long.add(unit(0, true, 100))
	if kbps, ok := long.add(unit(rateSpanMax, false, 100)); !ok || kbps != 0.0 {
		t.Fatalf("a stream without a second keyframe: %v, %v; want it measured at %v", kbps, ok, rateSpanMax)
	}
}

// A stream camnode passes through is announced with its measured data rate, not
// CAMNODE_BITRATE's 2500 kb/s: against nginx-rtmp, a player reads no rate of 2500 before
// the ingest restarts and the file's own rate after (the reconnect announces it); a
// browser of the local player that joins after the measurement reads the file's rate too,
// about 130 kb/s (its first seconds, which are
// measured, run up to 10 % above that: x264's rate control settling).
func TestPassthroughAnnouncesItsMeasuredRate(t *testing.T) {
	ng := peers.StartNginx(t)
	peers.Require(t, "ffmpeg", "ffprobe")
	clip := filepath.Join(t.TempDir(), "124k.h264")
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-t", "10", "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-b:v", "124k", "-maxrate", "124k", "-bufsize", "124k", "-x264-params", "nal-hrd=cbr",
		"-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-f", "h264", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	st, err := os.Stat(clip)
	if err != nil {
		t.Fatal(err)
	}
	fileKbps := float64(st.Size()) * 8 / 1000 / 10
	silence := audio.Silent(48000, 1)
	announced, _ := silence.Config()
	// The local player announces the same rate as the RTMP destinations.
	player, err := httpflv.Listen(httpflv.Options{Addr: "127.0.0.1:0", FrameRate: 30, BitrateKbps: 2500})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- player.Serve(ctx) }()
	defer func() { cancel(); <-served }()
	playerURL := player.URL() + "live.flv"
	var sts statuses
	p := New(Options{
		Source: "file://" + clip, Capture: sourceFPS(30), Targets: []string{ng.URL("rate")},
		Publish: stream.Options{FrameRate: 30, BitrateKbps: 2500, Audio: announced, ReconnectMin: 100 * time.Millisecond},
		Audio:   silence, OnStatus: sts.add, Local: []media.Output{player},
	})
	p.Start(context.Background())
	defer p.Stop()
	waitFor(t, "live", func() bool { return len(sts.of(DestinationLive)) == 1 })

	// Joining at once: the rate is left out until measured (or, on a slow machine, the
	// measured one is already there); never CAMNODE_BITRATE.
	if kbps := liveVideoRate(t, ng.URL("rate")); kbps > 1000 {
		t.Fatalf("a player joining at the start reads videodatarate %v kb/s: CAMNODE_BITRATE, not the stream's", kbps)
	}
	// A browser of the local player that joins once the rate is measured reads it at its
	// start (browsers watching get no onMetaData in mid-stream for it, nor does the ingest:
	// ffmpeg's FLV reader would show one as a subtitle cue).
	var kbps float64
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		if kbps = liveVideoRate(t, playerURL); kbps != 0 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("a browser joining after the measurement reads videodatarate %.1f kb/s; the file holds %.1f kb/s", kbps, fileKbps)
	if kbps < 0.8*fileKbps || kbps > 1.2*fileKbps {
		t.Fatalf("a browser of the local player reads videodatarate %.1f kb/s, want the file's %.1f within 20%%", kbps, fileKbps)
	}
	if kbps := liveVideoRate(t, ng.URL("rate")); kbps > 1000 {
		t.Fatalf("a player of the ingest reads videodatarate %v kb/s: CAMNODE_BITRATE, not the stream's", kbps)
	}

	ng.Stop()
	ng.Start(t)
	waitFor(t, "live again", func() bool { return len(sts.of(DestinationLive)) == 2 })
	// After a reconnect the first onMetaData has it: no new measurement is made.
	kbps = liveVideoRate(t, ng.URL("rate"))
	t.Logf("a player of the ingest after it restarted reads videodatarate %.1f kb/s", kbps)
	if kbps < 0.8*fileKbps || kbps > 1.2*fileKbps {
		t.Fatalf("after the ingest restarted a player reads videodatarate %.1f kb/s, want the measured one", kbps)
	}
}

// liveVideoRate plays a live stream with ffprobe and returns the video data rate that the
// stream's onMetaData announced, as nginx-rtmp passed it on (ffmpeg turns videodatarate
// into the stream's bit_rate, in units of 1024 bit/s), in kbit/s; 0 when none was.
func liveVideoRate(t *testing.T, url string) float64 {
	t.Helper()
	out, err := exec.Command("timeout", "-k", "5", "20", "ffprobe", "-v", "error", "-rw_timeout", "5000000",
		"-analyzeduration", "3000000", "-probesize", "5000000",
		"-show_entries", "stream=codec_type,bit_rate", "-of", "json", url).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", url, err)
	}
	var probe struct {
		Streams []struct {
			Type    string `json:"codec_type"`
			BitRate string `json:"bit_rate"`
		}
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatalf("ffprobe json: %v\n%s", err, out)
	}
	for _, s := range probe.Streams {
		if s.Type == "video" {
			bps, _ := strconv.ParseFloat(s.BitRate, 64)
			return bps / 1024
		}
	}
	t.Fatalf("ffprobe %s: no video stream in %s", url, out)
	return 0
}
