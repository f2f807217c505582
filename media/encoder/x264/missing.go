//go:build nox264 || !cgo

// Package x264 is the H.264 encoder of camnode: libx264, opened at run time with dlopen
// (build tag nox264 leaves it out).
package x264

import (
	"errors"
	"fmt"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
)

// Built tells whether this binary can use libx264 (it was built with cgo and without the
// nox264 tag).
const Built = false

// LibraryEnv names the library to open instead of libx264.so.164; unused in this build.
const LibraryEnv = "X264_LIBRARY"

// Package is the Debian (and Raspberry Pi OS) package that installs the library.
const Package = "libx264-164"

// Encoder stands in for the libx264 encoder in builds without it; New never returns one.
type Encoder struct{}

var _ encoder.Encoder = (*Encoder)(nil)

var errNotBuilt = fmt.Errorf("x264: %w (built with the nox264 tag or CGO_ENABLED=0; rebuild with cgo, without the tag, for burn-in danmaku, raw camera formats and the live test pattern)", encoder.ErrNotBuilt)

// Available returns an error wrapping encoder.ErrNotBuilt.
func Available() error { return errNotBuilt }

// Version returns "": there is no library.
func Version() string { return "" }

// New returns an error wrapping encoder.ErrNotBuilt: this camnode was built without
// libx264, so burn-in danmaku and raw camera formats are unavailable.
func New(opts encoder.Options) (*Encoder, error) { return nil, errNotBuilt }

// Options returns the zero Options.
func (e *Encoder) Options() encoder.Options { return encoder.Options{} }

// Encode fails: there is no encoder.
func (e *Encoder) Encode(*media.Frame, bool, func(*media.AccessUnit) error) error {
	return errors.New("x264: not built into this camnode")
}

// Close does nothing.
func (e *Encoder) Close() error { return nil }
