// Command avpush is camnode's publisher with the default silent audio track, alone: it
// plays an H.264 clip once in real time (file source), puts AAC silence beside it on the
// same clock, publishes both to one RTMP URL and exits 0 once every frame went out.
// bench/run.sh measures it against ffmpeg -re with anullsrc AAC (bench/push).
//
//	avpush CLIP.h264 rtmp://host/app/stream
//
// AVPUSH_AUDIO=none leaves the audio out, to tell its share of the cost.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/audio"
	"github.com/camnode/camnode/media/source/file"
	"github.com/camnode/camnode/media/stream"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: avpush CLIP.h264 rtmp://host/app/stream")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "avpush:", err)
		os.Exit(1)
	}
}

func run(clip, url string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	video, err := file.Open(clip, file.Options{Once: true})
	if err != nil {
		return err
	}
	epoch := time.Now() // the file source's time zero: it starts now
	silence := audio.Silent(48000, 1)
	silence.Clock = audio.WallClock(epoch)
	cfg, err := silence.Config()
	if err != nil {
		return err
	}
	opts := stream.Options{URL: url, FrameRate: 30, BitrateKbps: 8000, Audio: cfg}
	if os.Getenv("AVPUSH_AUDIO") == "none" {
		opts.Audio = nil
	}
	p := stream.New(opts)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.Run(runCtx) }()
	go func() {
		defer wg.Done()
		if os.Getenv("AVPUSH_AUDIO") == "none" {
			return
		}
		silence.RunAudio(runCtx, func(f *media.AudioFrame) error { return p.WriteAudio(runCtx, f) })
	}()
	err = video.Run(runCtx, func(au *media.AccessUnit) error { return p.WriteAccessUnit(runCtx, au) })
	if err != nil && !errors.Is(err, io.EOF) {
		cancel()
		wg.Wait()
		return err
	}
	// Played once: wait until the writer sent every frame.
	in := p.Stats().FramesIn
	for st := p.Stats(); st.FramesSent+st.FramesDropped < in; st = p.Stats() {
		select {
		case <-ctx.Done():
			cancel()
			wg.Wait()
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	wg.Wait()
	st := p.Stats()
	fmt.Printf("video %d sent %d dropped; audio %d sent %d dropped\n", st.FramesSent, st.FramesDropped, st.AudioFramesSent, st.AudioFramesDropped)
	if st.FramesDropped != 0 {
		return fmt.Errorf("%d video frames dropped", st.FramesDropped)
	}
	return nil
}
