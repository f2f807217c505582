package pipeline

import (
	"log/slog"
	"time"

	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/picture"
	"github.com/camnode/camnode/media/rtmp"
	"github.com/camnode/camnode/media/source"
	"github.com/camnode/camnode/media/stream"
)

// Settings are what the node's settings say of every stream, in plain values (the
// CAMNODE_ variables of the same names); Options turns them into a pipeline's options.
type Settings struct {
	Source, SourceFormat string
	Width, Height        int
	FPS                  float64
	Bitrate              int // bits/s
	GOP                  int // frames
	Rotate               int
	Flip                 string
	Encoder              string
	X264Preset           string
	X264Profile          string
	// Targets are the RTMP ingest URLs, secrets and all.
	Targets                    []string
	RTMPTimeout                time.Duration
	RTMPCAFile                 string
	ReconnectMin, ReconnectMax time.Duration
	SendBuffer                 time.Duration
}

// Options are the options of a pipeline of these settings; the caller adds the audio, the
// local outputs, the chat and OnStatus. A rotation that does not parse (the settings were
// checked at start) is left out.
func (s Settings) Options(log *slog.Logger) Options {
	turn, _ := picture.ParseOrientation(s.Rotate, s.Flip)
	return Options{
		Source: s.Source,
		Capture: source.Options{Width: s.Width, Height: s.Height, FPS: s.FPS, Bitrate: s.Bitrate, GOP: s.GOP,
			Format: s.SourceFormat, Orientation: turn, Logger: log},
		Encoder:    s.Encoder,
		Encoding:   encoder.Options{Preset: s.X264Preset, Profile: s.X264Profile},
		Targets:    s.Targets,
		RTMPCAFile: s.RTMPCAFile,
		Publish: stream.Options{
			RTMP:         rtmp.Options{Timeout: s.RTMPTimeout, WriteTimeout: s.RTMPTimeout, Logger: log},
			ReconnectMin: s.ReconnectMin,
			ReconnectMax: s.ReconnectMax,
			SendBuffer:   s.SendBuffer,
			FrameRate:    s.FPS,
			BitrateKbps:  float64(s.Bitrate) / 1000,
			Logger:       log,
		},
		ReconnectMin: s.ReconnectMin,
		ReconnectMax: s.ReconnectMax,
		Logger:       log,
	}
}
