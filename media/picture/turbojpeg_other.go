//go:build !cgo

package picture

import (
	"errors"

	"github.com/camnode/camnode/media"
)

// TurboJPEGLibraryEnv names the libturbojpeg to open; unused in a build without cgo.
const TurboJPEGLibraryEnv = "TURBOJPEG_LIBRARY"

// TurboJPEGPackage is the Debian (and Raspberry Pi OS) package of the library.
const TurboJPEGPackage = "libturbojpeg0"

// TurboJPEGAvailable fails: a build without cgo cannot open libturbojpeg.
func TurboJPEGAvailable() error {
	return errors.New("libturbojpeg cannot be used by a camnode built without cgo; MJPEG is decoded by image/jpeg")
}

type turboDecoder struct{}

func newTurboDecoder() *turboDecoder { return nil }

func (d *turboDecoder) decode([]byte, *media.Frame) error { return errors.New("no libturbojpeg") }
