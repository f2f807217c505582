package v4l2

import (
	"errors"
	"fmt"

	"github.com/camnode/camnode/media/picture"
)

// The camera controls that turn the picture (linux/v4l2-controls.h, user class), checked
// against the header in device_linux.go.
const (
	cidHFlip  = 0x00980900 + 20 // V4L2_CID_HFLIP, "horizontal_flip"
	cidVFlip  = 0x00980900 + 21 // V4L2_CID_VFLIP, "vertical_flip"
	cidRotate = 0x00980900 + 34 // V4L2_CID_ROTATE, "rotate", degrees clockwise
)

// applyOrientation asks the camera to turn its picture as o says, through its rotate,
// horizontal_flip and vertical_flip controls where it has them, and returns what is left
// to do in software (the zero Orientation when the camera did it all) and the controls
// it set, "name value" each. A rotation by 180 the camera cannot do as such is done as
// both flips. The identity touches no control: the camera keeps its own settings.
// Call it before setting the format: a driver may swap the picture's sides on a quarter
// turn.
func applyOrientation(cam camera, o picture.Orientation) (rest picture.Orientation, settings []string, err error) {
	if o.IsIdentity() {
		return picture.Orientation{}, nil, nil
	}
	set := func(name string, id uint32, value int64) (bool, error) {
		c, err := cam.control(id)
		if errors.Is(err, errNoControl) || err == nil && (value < c.Min || value > c.Max || c.Step > 1 && (value-c.Min)%c.Step != 0) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if err := cam.setControl(id, int32(value)); err != nil {
			return false, fmt.Errorf("v4l2: %s: set %s to %d: %w", cam.path(), name, value, err)
		}
		settings = append(settings, fmt.Sprintf("%s %d", name, value))
		return true, nil
	}
	rest = o
	if o.Rotate != 0 {
		ok, err := set("rotate", cidRotate, int64(o.Rotate))
		if err != nil {
			return o, settings, err
		}
		if ok {
			rest.Rotate = 0
		}
	}
	if rest.Rotate == 180 {
		_, herr := cam.control(cidHFlip)
		_, verr := cam.control(cidVFlip)
		if herr == nil && verr == nil {
			rest = picture.Orientation{FlipH: !rest.FlipH, FlipV: !rest.FlipV}
		}
	}
	for _, f := range []struct {
		name string
		id   uint32
		want *bool
	}{{"horizontal_flip", cidHFlip, &rest.FlipH}, {"vertical_flip", cidVFlip, &rest.FlipV}} {
		v := int64(0)
		if *f.want {
			v = 1
		}
		ok, err := set(f.name, f.id, v)
		if err != nil {
			return rest, settings, err
		}
		if ok {
			*f.want = false
		}
	}
	return rest, settings, nil
}
