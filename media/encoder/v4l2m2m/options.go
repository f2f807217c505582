package v4l2m2m

import (
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
)

// DefaultDevice is where the Raspberry Pi's bcm2835-codec registers its H.264 encoder
// (its module parameter encode_video_nr defaults to 11).
const DefaultDevice = "/dev/video11"

// Params are the settings of a memory-to-memory encoder beyond encoder.Options.
type Params struct {
	// Device is the encoder's node; default DefaultDevice.
	Device string
	// Coded is the CAPTURE queue's format; default CodedH264. Access units of H.264
	// carry the NAL units of the Annex-B stream; of any other format one "NAL unit"
	// that is the whole coded frame.
	Coded uint32
	// Raw is the pixel layout the frames given to Encode have: media.PixelI420 (the
	// default) or media.PixelNV12.
	Raw media.PixelFormat
	// Level is the H.264 level ("3.1", "4", …); default: the lowest that fits the
	// picture size and rate.
	Level string
	// OutputBuffers and CaptureBuffers are how many buffers to ask for on each queue
	// (the driver may give more); defaults 4 and 4. A live encoder needs few: every
	// Encode waits for its coded frame.
	OutputBuffers, CaptureBuffers int
	// Timeout bounds every wait on the device (a frame to come out, a drain to end);
	// default 5 s. A driver that does not answer in time fails the call: no hang.
	Timeout time.Duration
}

const (
	defaultBuffers = 4
	defaultTimeout = 5 * time.Second
	maxBuffers     = 32
)

// h264Level is the lowest H.264 level (Table A-1: max macroblocks per second and per
// frame) that carries width x height at fps, as the V4L2 menu index.
func h264Level(o encoder.Options) (name string, index int32) {
	mbs := ((o.Width + 15) / 16) * ((o.Height + 15) / 16)
	rate := float64(mbs) * o.FPS
	levels := []struct {
		name          string
		index         int32
		perSec, frame float64
	}{
		{"1", 0, 1485, 99}, {"1.1", 2, 3000, 396}, {"1.2", 3, 6000, 396}, {"1.3", 4, 11880, 396},
		{"2", 5, 11880, 396}, {"2.1", 6, 19800, 792}, {"2.2", 7, 20250, 1620}, {"3", 8, 40500, 1620},
		{"3.1", 9, 108000, 3600}, {"3.2", 10, 216000, 5120}, {"4", 11, 245760, 8192}, {"4.1", 12, 245760, 8192},
		{"4.2", 13, 522240, 8704}, {"5", 14, 589824, 22080}, {"5.1", 15, 983040, 36864},
	}
	for _, l := range levels {
		if rate <= l.perSec && float64(mbs) <= l.frame {
			return l.name, l.index
		}
	}
	l := levels[len(levels)-1]
	return l.name, l.index
}

// levelIndex is the V4L2 menu index of an H.264 level name.
func levelIndex(name string) (int32, bool) {
	names := []string{"1", "1b", "1.1", "1.2", "1.3", "2", "2.1", "2.2", "3", "3.1", "3.2", "4", "4.1", "4.2", "5", "5.1", "5.2", "6", "6.1", "6.2"}
	for i, n := range names {
		if n == name || n+".0" == name {
			return int32(i), true
		}
	}
	return 0, false
}

// profileIndex is the V4L2 menu index of an H.264 profile name.
func profileIndex(name string) (int32, bool) {
	switch name {
	case "baseline":
		return 0, true
	case "constrained_baseline":
		return 1, true
	case "main":
		return 2, true
	case "high":
		return 4, true
	}
	return 0, false
}
