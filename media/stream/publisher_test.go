//go:build !(386 || arm || mips || mipsle)

package stream

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/audio"
	"github.com/camnode/camnode/media/flv"
	"github.com/camnode/camnode/media/ingest"
	"github.com/camnode/camnode/media/source"
)

// runIngest serves an embedded ingest on addr until the returned stop is called.
func runIngest(t *testing.T, addr, dir string) (string, func()) {
	t.Helper()
	var srv *ingest.Server
	var err error
	// The port of a stopped ingest may take a moment to free; a loaded machine or an
	// emulated one may take many.
	for deadline := time.Now().Add(time.Minute); ; {
		if srv, err = ingest.Listen(addr, ingest.Options{Dir: dir}); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		srv.Serve(ctx)
		close(done)
	}()
	return srv.Addr().String(), func() { cancel(); <-done }
}

// flvSummary is the order of tags in a recording: "M" metadata, "S" sequence header,
// "K" keyframe, "P" other frame.
func flvSummary(t *testing.T, path string) string {
	t.Helper()
	_, tags, _ := flv.ReadFile(path) // what was recorded before any damage is the summary
	var s []byte
	for _, tag := range tags {
		switch tag.Type {
		case flv.TagScript:
			s = append(s, 'M')
		case flv.TagVideo:
			v, err := flv.ParseVideoTag(tag.Body)
			switch {
			case err != nil:
				s = append(s, '?')
			case v.PacketType == flv.AVCSequenceHeader:
				s = append(s, 'S')
			case v.Keyframe():
				s = append(s, 'K')
			default:
				s = append(s, 'P')
			}
		}
	}
	return string(s)
}

// The ingest goes away mid-stream and comes back: the publisher reconnects by itself, and
// the new recording starts with metadata, the sequence header and a keyframe. Every wait is
// on a condition with a generous deadline: the test runs under qemu-user on loaded
// machines, where a 10 s margin for 30 frames of x264 failed.
func TestPublisherReconnectsAndRestartsCleanly(t *testing.T) {
	dir := t.TempDir()
	addr, stop := runIngest(t, "127.0.0.1:0", dir)

	p, log, stopPublishing := runPublisher(t, Options{
		URL:          "rtmp://" + addr + "/live/test",
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
	})
	waitFor := func(what string, ok func(media.OutputStats) bool) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for !ok(p.Stats()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: stats %+v", what, p.Stats())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("live", func(s media.OutputStats) bool { return s.Live && s.FramesSent > 30 })
	stop()
	waitFor("lost", func(s media.OutputStats) bool { return !s.Live })
	sentBefore := p.Stats().FramesSent
	// Once the publisher has found the ingest gone (a failed attempt after the loss), the
	// ingest comes back in the same place.
	failedAttempts := func() int {
		n := 0
		for _, s := range log.get()[2:] {
			if s.State == Reconnecting {
				n++
			}
		}
		return n
	}
	waitFor("a failed attempt while the ingest is gone", func(media.OutputStats) bool { return failedAttempts() >= 2 })
	_, stop = runIngest(t, addr, dir)
	waitFor("live again", func(s media.OutputStats) bool { return s.Live && s.FramesSent > sentBefore+30 })
	stopPublishing()
	stop()

	st := p.Stats()
	if st.Reconnects < 1 {
		t.Fatalf("reconnects %d", st.Reconnects)
	}
	var got []State
	for _, s := range log.get() {
		got = append(got, s.State)
	}
	if len(got) < 3 || got[0] != Connecting || got[1] != Live || got[len(got)-1] != Live {
		t.Fatalf("states %v", got)
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 2 {
		t.Fatalf("recordings: %v", files)
	}
	for _, f := range files {
		s := flvSummary(t, dir+"/"+f.Name())
		if len(s) < 10 || s[:3] != "MSK" {
			t.Fatalf("%s starts %.10q, want metadata, sequence header, keyframe", f.Name(), s)
		}
	}
}

// A track announced up front is in onMetaData from the first tag, with a measured
// videodatarate, and its AAC sequence header follows the AVC one before the first keyframe;
// silence follows on the same connection.
func TestPublisherAnnouncesAudio(t *testing.T) {
	dir := t.TempDir()
	addr, stop := runIngest(t, "127.0.0.1:0", dir)
	defer stop()
	silence := audio.Silent(44100, 2)
	cfg, err := silence.Config()
	if err != nil {
		t.Fatal(err)
	}
	p := New(Options{URL: "rtmp://" + addr + "/live/meta", FrameRate: 30, BitrateKbps: 2500, Audio: cfg})
	p.SetVideoDataRate(124)
	src, err := source.Open("testsrc", source.Options{Width: 320, Height: 240, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); p.Run(ctx) }()
	go func() {
		defer wg.Done()
		src.Run(ctx, media.Feed(ctx, p))
	}()
	go func() {
		defer wg.Done()
		silence.RunAudio(ctx, func(f *media.AudioFrame) error { return p.WriteAudio(ctx, f) })
	}()
	deadline := time.Now().Add(3 * time.Minute)
	for st := p.Stats(); st.FramesSent < 10 || st.AudioFramesSent < 10; st = p.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	stop()
	files, _ := os.ReadDir(dir)
	if len(files) != 1 {
		t.Fatalf("recordings %v", files)
	}
	f, err := os.Open(filepath.Join(dir, files[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := flv.NewReader(f)
	var order []byte
	for len(order) < 4 {
		tag, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch tag.Type {
		case flv.TagScript:
			order = append(order, 'M')
			vals, err := flv.DecodeAMFValues(tag.Body) // "onMetaData" {…}: the ingest drops @setDataFrame
			if err != nil || len(vals) < 2 {
				t.Fatalf("metadata %v %v", vals, err)
			}
			m, _ := vals[len(vals)-1].(flv.AMFMap)
			want := map[string]any{"audiocodecid": 10.0, "audiosamplerate": 44100.0, "stereo": true, "videodatarate": 124.0, "videocodecid": 7.0}
			for k, v := range want {
				if m.Get(k) != v {
					t.Errorf("onMetaData %s = %v, want %v (all: %v)", k, m.Get(k), v, m)
				}
			}
		case flv.TagVideo:
			v, _ := flv.ParseVideoTag(tag.Body)
			order = append(order, map[bool]byte{true: 'S', false: 'K'}[v.PacketType == flv.AVCSequenceHeader])
		case flv.TagAudio:
			a, _ := flv.ParseAudioTag(tag.Body)
			if a.PacketType != flv.AACSequenceHeader || !bytes.Equal(a.Data, cfg.ASC) {
				t.Fatalf("audio tag %+v before the keyframe, want the AAC sequence header % x", a, cfg.ASC)
			}
			order = append(order, 'A')
		}
	}
	if string(order) != "MSAK" {
		t.Fatalf("recording starts %s, want metadata, AVC and AAC sequence headers, keyframe", order)
	}
}
