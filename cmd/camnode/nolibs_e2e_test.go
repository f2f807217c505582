package main

import (
	"debug/elf"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/picture"
)

// TestPassthroughWithoutLibraries: the binary on a machine without libx264 and
// libturbojpeg (hidden by name) starts, and streams an H.264 source, which needs neither,
// to nginx: the recording decodes at the size with the frames sent.
func TestPassthroughWithoutLibraries(t *testing.T) {
	clip := makeClip(t, "640x360", 90, 30)
	r := newRig(t, "nolibs", clip)
	r.env[x264.LibraryEnv] = "libx264-not-installed.so.164"
	r.env[picture.TurboJPEGLibraryEnv] = "libturbojpeg-not-installed.so.0"
	startCamnode(t, r.env)
	r.await(t, 0, "availability", is("online"), "retained online")

	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "ON")
	r.await(t, from, "event", eventIs("stream_started"), "stream_started event")
	time.Sleep(2 * time.Second)
	from = len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "OFF")
	r.await(t, from, "stream/state", is("OFF"), "stream/state OFF")
	tel := parseTelemetry(t, r.await(t, from, "telemetry", func(string) bool { return true }, "telemetry after OFF").Payload)
	recs := r.ingest.WaitPublishEnded(t, r.stream, 1, 10*time.Second)
	if len(recs) != 1 {
		t.Fatalf("recordings: %v", recs)
	}
	checkRecording(t, recs[0], 640, 360, tel.FramesSent)
}

// TestBinaryLinksNoVideoLibrary: hiding the libraries by name proves something only if
// the binary does not link them: the dynamic loader would load a linked one before main.
func TestBinaryLinksNoVideoLibrary(t *testing.T) {
	f, err := elf.Open(camnodeBin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range libs {
		if strings.Contains(l, "x264") || strings.Contains(l, "jpeg") {
			t.Errorf("camnode links %s (all: %v); want libx264 and libturbojpeg opened at run time", l, libs)
		}
	}
}
