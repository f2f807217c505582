package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/media/encoder/v4l2m2m"
	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/source"
	srcexec "github.com/camnode/camnode/media/source/exec"
)

// preflight checks what the settings need of this machine, so that a source that can never
// work is a bad setting at start (exit 2 naming the variable) rather than a source_failed at
// ON: an exec: program not on PATH, a file that does not exist, V4L2 not built into this
// binary, raw pictures (or burn-in into the test pattern) without libx264 to encode them.
// A camera that is merely unplugged may come back: that is only a warning.
func preflight(cfg *config.Config) (warnings []string, err error) {
	bad := func(v, format string, args ...any) error {
		return &config.Error{Var: config.Prefix + "_" + v, Msg: fmt.Sprintf(format, args...)}
	}
	src := cfg.Source
	spec, err := source.Parse(src)
	if err != nil {
		return nil, bad("SOURCE", "%v", err)
	}
	warning, err := spec.Check(source.Options{Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, Format: cfg.SourceFormat})
	if err != nil {
		return nil, bad("SOURCE", "%v", err)
	}
	if warning != "" {
		warnings = append(warnings, warning)
	}
	if strings.HasPrefix(cfg.Audio, "exec:") {
		if msg := checkProgram(strings.TrimPrefix(cfg.Audio, "exec:")); msg != "" {
			return nil, bad("AUDIO", "%s", msg)
		}
	}
	// Raw frames, and burn-in into the test pattern, need an H.264 encoder here.
	var needVar, needs string
	switch {
	case cfg.SourceFormat != "" && cfg.SourceFormat != "h264":
		needVar, needs = "SOURCE", "CAMNODE_SOURCE_FORMAT="+cfg.SourceFormat
	case cfg.Danmaku.Has(config.CarrierBurn) && strings.TrimSpace(src) == "testsrc":
		needVar, needs = "DANMAKU", "CAMNODE_DANMAKU=burn"
	}
	if needs != "" {
		dev := ""
		switch enc := cfg.Encoder; {
		case enc == "auto" || enc == "":
			if in, ok := v4l2m2m.FindH264(); ok {
				dev = in.Path
			}
		case enc == "v4l2m2m":
			dev = v4l2m2m.DefaultDevice
		case strings.HasPrefix(enc, "v4l2m2m:"):
			dev = strings.TrimPrefix(enc, "v4l2m2m:")
		}
		if dev != "" {
			if _, err := os.Stat(dev); err != nil {
				return nil, bad("ENCODER", "%s needs an encoder, and %s is not there: %v", needs, dev, errors.Unwrap(err))
			}
			in, err := v4l2m2m.Probe(dev)
			if err != nil {
				return nil, bad("ENCODER", "%s needs an encoder, and %s is none: %v", needs, dev, err)
			}
			if !in.H264 {
				return nil, bad("ENCODER", "%s needs an encoder, and %s (%s) makes no H.264 from I420 or NV12: check with camnode probe", needs, dev, in.Card)
			}
		} else if err := x264.Available(); err != nil {
			return nil, bad(needVar, "%s with %s needs an H.264 encoder to encode its raw pictures here: %v", source.Describe(src), needs, err)
		}
	}
	return warnings, nil
}

// checkProgram says what is wrong with an exec: command line: one that does not split, or a
// program that is not on PATH. Only the program's name is shown: arguments may hold secrets.
func checkProgram(line string) string {
	argv, err := srcexec.Argv(line)
	if err != nil {
		return fmt.Sprintf("exec: %v", err)
	}
	return srcexec.CheckProgram(argv)
}
