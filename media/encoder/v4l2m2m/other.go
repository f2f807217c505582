//go:build !linux

package v4l2m2m

import (
	"errors"
	"fmt"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
)

// Built says whether this camnode can drive a V4L2 memory-to-memory encoder: only on Linux.
const Built = false

// ErrNotM2M is wrapped by Probe's error for a device that is not memory-to-memory.
var ErrNotM2M = errors.New("not a V4L2 memory-to-memory device")

// Encoder is not available off Linux.
type Encoder struct{}

// Info describes a memory-to-memory device.
type Info struct {
	Path, Name, Driver, Card string
	MultiPlanar              bool
	Raw, Coded               []string
	Encoder, H264, Decoder   bool
}

// Open fails: V4L2 exists on Linux only.
func Open(o encoder.Options, p Params) (*Encoder, error) {
	return nil, fmt.Errorf("v4l2m2m: V4L2 needs Linux: %w", encoder.ErrNotBuilt)
}

// Encode fails.
func (e *Encoder) Encode(*media.Frame, bool, func(*media.AccessUnit) error) error {
	return encoder.ErrNotBuilt
}

// Close does nothing.
func (e *Encoder) Close() error { return nil }

// Unsupported lists nothing.
func (e *Encoder) Unsupported() []string { return nil }

// Probe fails.
func Probe(path string) (Info, error) { return Info{Path: path}, ErrNotM2M }

// Encoders lists none.
func Encoders() []Info { return nil }

// New fails: V4L2 exists on Linux only.
func New(o encoder.Options, p Params) (encoder.Encoder, error) {
	_, err := Open(o, p)
	return nil, err
}

// FindH264 finds none.
func FindH264() (Info, bool) { return Info{}, false }
