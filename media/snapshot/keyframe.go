package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/camnode/camnode/media/h264"
)

// MaxAccessUnitSize is the largest keyframe FromKeyframe takes: a 1080p IDR picture at a
// streaming bitrate is a few hundred kB.
const MaxAccessUnitSize = 4 << 20

// DecodeTimeout bounds a decode when the caller's context has no deadline of its own.
const DecodeTimeout = 10 * time.Second

// ErrNoDecoder says that this machine has nothing to decode H.264 with, so an H.264-only
// source (a camera's own encoder, a file) cannot give a picture. Its text is what the image
// entity's attributes show.
var ErrNoDecoder = errors.New("snapshot: no H.264 decoder on this machine: install ffmpeg (apt-get install ffmpeg) for pictures of an H.264-only source")

// Decoder decodes H.264 keyframes into JPEGs with an ffmpeg program. The zero value looks
// for "ffmpeg" on PATH.
type Decoder struct {
	// FFmpeg is the program to run; empty means "ffmpeg" on PATH.
	FFmpeg string
}

// FromKeyframe decodes one H.264 keyframe access unit (NAL units without start codes; it
// must hold the SPS, the PPS and the IDR slice) with ffmpeg and returns it as a JPEG of
// the picture's size. ctx bounds the decode (DecodeTimeout where it has no deadline); the
// input is capped at MaxAccessUnitSize, the picture at MaxWidth x MaxHeight (checked from
// the SPS before ffmpeg runs), the output at MaxJPEGSize. Without ffmpeg the error wraps
// ErrNoDecoder.
func (d Decoder) FromKeyframe(ctx context.Context, nalus [][]byte) ([]byte, error) {
	sps, err := checkKeyframe(nalus)
	if err != nil {
		return nil, err
	}
	prog := d.FFmpeg
	if prog == "" {
		prog = "ffmpeg"
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNoDecoder, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DecodeTimeout)
		defer cancel()
	}
	// One thread and a cap on each allocation keep the decoder's memory to about a
	// picture's worth; yuvj420p is the full-range layout a JPEG holds.
	cmd := exec.CommandContext(ctx, path,
		"-hide_banner", "-loglevel", "error", "-nostdin",
		"-max_alloc", strconv.Itoa(64<<20), "-threads", "1",
		"-f", "h264", "-i", "pipe:0",
		"-frames:v", "1", "-pix_fmt", "yuvj420p", "-q:v", "3",
		"-f", "image2pipe", "-c:v", "mjpeg", "pipe:1")
	cmd.Stdin = bytes.NewReader(h264.AppendAnnexB(nil, nalus))
	var stderr tailBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("snapshot: ffmpeg: %w", err)
	}
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("snapshot: start %s: %w", path, err)
	}
	out, readErr := io.ReadAll(io.LimitReader(stdout, MaxJPEGSize+1))
	if len(out) > MaxJPEGSize {
		cmd.Process.Kill()
	}
	waitErr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("snapshot: decode %dx%d keyframe with ffmpeg: %w", sps.Width, sps.Height, ctx.Err())
	case len(out) > MaxJPEGSize:
		return nil, fmt.Errorf("snapshot: ffmpeg's JPEG exceeds %d bytes", MaxJPEGSize)
	case waitErr != nil || readErr != nil:
		return nil, fmt.Errorf("snapshot: ffmpeg could not decode the %dx%d keyframe: %v %s", sps.Width, sps.Height, errors.Join(waitErr, readErr), strings.TrimSpace(stderr.String()))
	case len(out) == 0:
		return nil, fmt.Errorf("snapshot: ffmpeg made no picture of the %dx%d keyframe: %s", sps.Width, sps.Height, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// checkKeyframe reports an access unit FromKeyframe cannot take, and returns its SPS.
func checkKeyframe(nalus [][]byte) (h264.SPS, error) {
	var (
		sps            h264.SPS
		size           int
		hasSPS, hasPPS bool
	)
	for _, n := range nalus {
		size += 4 + len(n)
		switch h264.NALType(n) {
		case h264.TypeSPS:
			s, err := h264.ParseSPS(n)
			if err != nil {
				return sps, fmt.Errorf("snapshot: keyframe SPS: %w", err)
			}
			sps, hasSPS = s, true
		case h264.TypePPS:
			hasPPS = true
		}
	}
	switch {
	case size > MaxAccessUnitSize:
		return sps, fmt.Errorf("snapshot: keyframe of %d bytes exceeds %d", size, MaxAccessUnitSize)
	case !h264.IsKeyframe(nalus):
		return sps, errors.New("snapshot: the access unit holds no IDR slice")
	case !hasSPS || !hasPPS:
		return sps, errors.New("snapshot: the keyframe lacks its SPS or PPS (put the stream's parameter sets in front)")
	case sps.Width <= 0 || sps.Height <= 0 || sps.Width > MaxWidth || sps.Height > MaxHeight:
		return sps, fmt.Errorf("snapshot: picture size %dx%d outside 1x1..%dx%d", sps.Width, sps.Height, MaxWidth, MaxHeight)
	}
	return sps, nil
}

// tailBuffer keeps the last 2 kB written to it: enough of ffmpeg's complaint to say why.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = append(t.b[:0], t.b[len(t.b)-2048:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
