package v4l2

import (
	"fmt"
	"strings"

	"github.com/camnode/camnode/media/encoder/v4l2m2m"
)

// m2mReason says what a memory-to-memory node is, for the probe of a node that is not a
// camera: an encoder with its raw and coded formats and whether camnode can stream with
// it, or just "a codec".
func m2mReason(path, card string) string {
	in, err := v4l2m2m.Probe(path)
	switch {
	case err != nil:
		return fmt.Sprintf("v4l2: %s (%s) is a memory-to-memory codec, not a camera (%v)", path, card, err)
	case in.H264:
		return fmt.Sprintf("v4l2: %s (%s) is a memory-to-memory H.264 encoder, not a camera: CAMNODE_ENCODER=v4l2m2m:%s", path, card, path)
	case in.Encoder:
		return fmt.Sprintf("v4l2: %s (%s) is a memory-to-memory encoder (%s to %s), not a camera; not H.264, so camnode cannot stream with it",
			path, card, strings.Join(in.Raw, " "), strings.Join(in.Coded, " "))
	default:
		return fmt.Sprintf("v4l2: %s (%s) is a memory-to-memory codec (%s to %s), not a camera",
			path, card, strings.Join(in.Raw, " "), strings.Join(in.Coded, " "))
	}
}
