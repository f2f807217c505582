package rtsp_test

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/audio"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/rtsp"
	"github.com/camnode/camnode/media/source/testsrc"
)

// startServer listens on free loopback ports and serves until the test ends.
func startServer(t testing.TB, opts rtsp.Options) *rtsp.Server {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	srv, err := rtsp.Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// feeder streams the live test pattern and AAC silence into an output as the pipeline
// does: Run from the first keyframe until stop, the parameter sets tracked once, the
// silence up to each picture before it.
type feeder struct {
	frames atomic.Int64
	mu     sync.Mutex
	times  []time.Duration // capture times of the units written
	stop   context.CancelFunc
	wg     sync.WaitGroup
	err    error
}

func startFeeder(t testing.TB, out media.Output, opts testsrc.Options) *feeder {
	t.Helper()
	if opts.Width == 0 {
		opts.Width, opts.Height = 640, 360
	}
	if opts.GOP == 0 {
		opts.GOP = 30
	}
	src := testsrc.New(opts)
	if !src.Live() {
		t.Skip("camnode built without x264: no live test pattern")
	}
	return feed(t, out, src)
}

// feed streams src and AAC silence into out until the test ends or close.
func feed(t testing.TB, out media.Output, src media.Source) *feeder {
	t.Helper()
	silence, err := audio.Silent(48000, 1).VideoTrack()
	if err != nil {
		t.Fatal(err)
	}
	f := &feeder{}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		var ps *h264.ParameterSets
		started := false
		f.err = src.Run(ctx, func(au *media.AccessUnit) error {
			next, err := h264.NextParameterSets(ps, au.NALUs)
			if err != nil {
				return err
			}
			ps = next
			if ps == nil || (!started && !au.Keyframe) {
				return nil
			}
			if !started {
				started = true
				f.wg.Add(1)
				go func() {
					defer f.wg.Done()
					out.Run(ctx)
				}()
			}
			silence.Advance(au.Time, func(a *media.AudioFrame) error { return out.WriteAudio(ctx, a) })
			if err := out.WriteVideo(ctx, au, ps); err != nil {
				return err
			}
			f.frames.Add(1)
			f.mu.Lock()
			f.times = append(f.times, au.Time)
			f.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(f.close)
	return f
}

// written returns the capture times of the units written so far.
func (f *feeder) written() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.times)
}

// close ends the stream and waits for the source and Run.
func (f *feeder) close() {
	f.stop()
	f.wg.Wait()
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// probed is what ffprobe reads of a capture or a URL.
type probed struct {
	Streams []probedStream
	Video   []probedFrame // video frames (or packets), in order
	Audio   []probedFrame
}

type probedStream struct {
	Type, Codec   string
	Width, Height int
	SampleRate    int
}

type probedFrame struct {
	PTS      float64
	Keyframe bool
	Type     string // picture type: I, P, B
}

// probeFrames decodes a capture with ffprobe: its streams and every decoded frame. Any
// decoding error fails the test (-xerror would stop at the first; -v error prints them).
func probeFrames(t testing.TB, path string) probed {
	t.Helper()
	cmd := exec.Command("ffprobe", "-v", "error", "-show_entries",
		"stream=codec_type,codec_name,width,height,sample_rate:frame=media_type,pts_time,key_frame,pict_type",
		"-of", "compact=p=0", path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Errorf("ffprobe %s reports decoding errors:\n%s", path, s)
	}
	var p probed
	for _, line := range strings.Split(string(out), "\n") {
		kv := map[string]string{}
		for _, f := range strings.Split(line, "|") {
			if k, v, ok := strings.Cut(f, "="); ok {
				kv[k] = v
			}
		}
		if c, ok := kv["codec_type"]; ok {
			s := probedStream{Type: c, Codec: kv["codec_name"]}
			s.Width, _ = strconv.Atoi(kv["width"])
			s.Height, _ = strconv.Atoi(kv["height"])
			s.SampleRate, _ = strconv.Atoi(kv["sample_rate"])
			p.Streams = append(p.Streams, s)
			continue
		}
		if m, ok := kv["media_type"]; ok {
			fr := probedFrame{Keyframe: kv["key_frame"] == "1", Type: kv["pict_type"]}
			fr.PTS, _ = strconv.ParseFloat(kv["pts_time"], 64)
			if m == "video" {
				p.Video = append(p.Video, fr)
			} else if m == "audio" {
				p.Audio = append(p.Audio, fr)
			}
		}
	}
	return p
}

// capture records n video frames of url with ffmpeg (no re-encoding) into a Matroska file
// and returns its path; transport is "tcp" or "udp".
func capture(t testing.TB, url, transport string, frames int) (string, error) {
	t.Helper()
	path := t.TempDir() + "/capture.mkv"
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", transport, "-i", url,
		"-map", "0", "-c", "copy", "-frames:v", strconv.Itoa(frames), "-y", path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			err = errors.New("ffmpeg did not end in 120 s")
		}
		return "", &exec.Error{Name: "ffmpeg " + strings.Join(cmd.Args[1:], " ") + ": " + strings.TrimSpace(string(out)), Err: err}
	}
	return path, nil
}
