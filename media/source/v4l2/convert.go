package v4l2

import (
	"fmt"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/picture"
)

// layouts maps the raw V4L2 formats camnode takes to media/picture's layouts.
var layouts = map[uint32]picture.Layout{
	fccNV12: picture.NV12, fccYU12: picture.I420, fccYV12: picture.YV12,
	fccYUYV: picture.YUYV, fccUYVY: picture.UYVY, fccMJPEG: picture.MJPEG, fccJPEG: picture.MJPEG,
}

// converter turns the driver's raw buffers of one granted format into media.Frames
// through media/picture: planar 4:2:0 is passed through without a copy, packed 4:2:2 is
// converted to I420, (M)JPEG is decoded. The format's bytesperline is the row stride.
type converter struct {
	code uint32
	conv *picture.Converter
}

func newConverter(code uint32, f Format) *converter {
	l, ok := layouts[code]
	if !ok {
		return &converter{code: code}
	}
	return &converter{code: code, conv: picture.NewConverter(l, f.Width, f.Height, f.BytesPerLine)}
}

// convert returns the frame in data; it aliases data and the converter's buffers, and is
// valid until the next call.
func (c *converter) convert(data []byte) (*media.Frame, error) {
	if c.conv == nil {
		return nil, fmt.Errorf("no conversion from %s", fourccString(c.code))
	}
	return c.conv.Convert(data)
}
