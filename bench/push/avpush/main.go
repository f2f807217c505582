// Command avpush is camnode's media pipeline with the default silent audio track, alone
// (no MQTT, no node): it plays an H.264 clip once in real time (file source), puts AAC
// silence beside it as camnode does, publishes both to one or more RTMP URLs and exits 0
// once every frame went out to each. bench/run.sh measures it against ffmpeg -re with
// anullsrc AAC, and two destinations against one (bench/push).
//
//	avpush CLIP.h264 rtmp://host/app/stream [rtmp://… more destinations]
//
// AVPUSH_AUDIO=none leaves the audio out, to tell its share of the cost.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/audio"
	"github.com/camnode/camnode/media/pipeline"
	"github.com/camnode/camnode/media/source"
	"github.com/camnode/camnode/media/stream"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: avpush CLIP.h264 rtmp://host/app/stream [rtmp://… more destinations]")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "avpush:", err)
		os.Exit(1)
	}
}

func run(clip string, urls []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	clip, err := filepath.Abs(clip)
	if err != nil {
		return err
	}
	// As the node makes them for CAMNODE_AUDIO=silent (the default).
	var track media.AudioSource
	var announced *media.AudioConfig
	if os.Getenv("AVPUSH_AUDIO") != "none" {
		silence := audio.Silent(48000, 1)
		if announced, err = silence.Config(); err != nil {
			return err
		}
		track = silence
	}
	ended := make(chan pipeline.Status, 1)
	p := pipeline.New(pipeline.Options{
		Source:  "file://" + clip + "?loop=0",
		Capture: source.Options{FPS: 30},
		Targets: urls,
		Publish: stream.Options{FrameRate: 30, BitrateKbps: 8000, Audio: announced},
		Audio:   track,
		OnStatus: func(s pipeline.Status) {
			switch s.Kind {
			case pipeline.SourceEnded, pipeline.SourceFailed:
				select {
				case ended <- s:
				default:
				}
			}
		},
	})
	p.Start(ctx)
	var end pipeline.Status
	select {
	case end = <-ended:
	case <-ctx.Done():
	}
	p.Stop()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if end.Kind != pipeline.SourceEnded {
		return fmt.Errorf("source: %v", end.Err)
	}
	// SourceEnded comes once the publisher sent what it queued.
	st := p.Stats()
	fmt.Printf("video %d of %d sent, %d dropped; audio %d sent %d dropped\n", st.Total.FramesSent, st.Frames,
		st.Total.FramesDropped, st.Total.AudioFramesSent, st.Total.AudioFramesDropped)
	for _, d := range st.Destinations {
		if d.FramesDropped != 0 || d.FramesSent != st.Frames {
			return fmt.Errorf("%s: %d of %d video frames sent, %d dropped", d.Target, d.FramesSent, st.Frames, d.FramesDropped)
		}
	}
	return nil
}
