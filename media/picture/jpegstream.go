package picture

import (
	"errors"
	"fmt"
)

// MaxJPEGSize bounds one picture of an MJPEG stream: a stream that goes on this long
// without ending its picture is not MJPEG (or is broken) and is refused rather than
// buffered without bound.
const MaxJPEGSize = 16 << 20

// ErrNotJPEG is wrapped by CutJPEG's error when the stream does not hold JPEG pictures.
var ErrNotJPEG = errors.New("not a JPEG picture")

// CutJPEG finds the first whole JPEG picture at the start of b, an MJPEG stream as
// programs write it (ffmpeg -f mjpeg, rpicam-vid --codec mjpeg): pictures one after
// another, each from its SOI marker (FFD8) to its EOI marker (FFD9). It returns the
// picture's length n, or 0 when b holds only the beginning of one (read more).
//
// Layout: FFD8, then marker segments FFxx LLLL… (LLLL counts itself; an APPn segment
// may hold a thumbnail with its own FFD8…FFD9, skipped whole) up to SOS (FFDA LLLL…),
// then entropy-coded data in which FF is followed by 00 (a stuffed FF) or a restart
// marker FFD0-FFD7, and then the next segment (more scans, DHT …) or EOI. Fill bytes FF
// may precede any marker.
func CutJPEG(b []byte) (n int, err error) {
	if len(b) < 2 {
		return 0, nil
	}
	if b[0] != 0xff || b[1] != 0xd8 {
		return 0, fmt.Errorf("%w: starts with % x, want ff d8 (SOI)", ErrNotJPEG, b[:2])
	}
	i := 2
	for {
		// A marker: fill bytes, then FF xx.
		for i < len(b) && b[i] == 0xff && i+1 < len(b) && b[i+1] == 0xff {
			i++
		}
		if i+2 > len(b) {
			return needMore(len(b))
		}
		if b[i] != 0xff {
			return 0, fmt.Errorf("%w: byte %d is %#x where a marker should start", ErrNotJPEG, i, b[i])
		}
		m := b[i+1]
		switch {
		case m == 0xd9: // EOI
			return i + 2, nil
		case m == 0xd8 || m == 0x00:
			return 0, fmt.Errorf("%w: marker ff %02x at byte %d inside a picture", ErrNotJPEG, m, i)
		case m == 0x01 || m >= 0xd0 && m <= 0xd7: // no length
			i += 2
			continue
		}
		if i+4 > len(b) {
			return needMore(len(b))
		}
		size := int(b[i+2])<<8 | int(b[i+3])
		if size < 2 {
			return 0, fmt.Errorf("%w: segment ff %02x at byte %d has length %d", ErrNotJPEG, m, i, size)
		}
		i += 2 + size
		if m != 0xda {
			continue
		}
		// Entropy-coded data after SOS: up to the first FF that starts a marker other
		// than a restart.
		for {
			if i >= len(b) {
				return needMore(len(b))
			}
			j := i
			for j < len(b) && b[j] != 0xff {
				j++
			}
			if j+1 >= len(b) {
				return needMore(len(b))
			}
			if c := b[j+1]; c == 0x00 || c >= 0xd0 && c <= 0xd7 || c == 0xff {
				i = j + 2
				if c == 0xff {
					i = j + 1 // fill byte: look at the next FF again
				}
				continue
			}
			i = j
			break
		}
	}
}

func needMore(have int) (int, error) {
	if have >= MaxJPEGSize {
		return 0, fmt.Errorf("%w: no end (FFD9) within %d bytes", ErrNotJPEG, MaxJPEGSize)
	}
	return 0, nil
}
