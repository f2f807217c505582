// Package auto is the default source: the Pi camera through rpicam-vid where there is
// one, else the first V4L2 camera.
package auto

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/camnode/camnode/media/source/kind"
	"github.com/camnode/camnode/media/source/rpicam"
	"github.com/camnode/camnode/media/source/v4l2"
)

// Kind is this source for package source.
var Kind = kind.Kind{Scheme: "auto", Form: "auto", Parse: parse}

type spec struct{}

func parse(_, rest string) (kind.Spec, error) {
	if rest != "" {
		return nil, fmt.Errorf("auto takes no parameters, got %q", rest)
	}
	return spec{}, nil
}

func (spec) Describe() string { return "auto" }

// Check finds the camera now; none is a warning, since one may be plugged in later.
func (spec) Check(o kind.Options) (string, error) {
	if _, err := Find(context.Background()); err != nil {
		return err.Error(), nil
	}
	return "", nil
}

func (spec) Open(o kind.Options) (kind.Opened, error) {
	uri, err := Find(context.Background())
	if err != nil {
		return kind.Opened{}, err
	}
	k := v4l2.Kind
	if uri == "rpicam" {
		k = rpicam.Kind
	}
	chosen, err := k.Parse(uri, "")
	if err != nil {
		return kind.Opened{}, err
	}
	opened, err := chosen.Open(o)
	opened.Attrs = append(opened.Attrs, "auto", uri)
	return opened, err
}

// notCameras are the drivers of the Pi's own camera plumbing that list themselves as V4L2
// capture devices but are no camera one can stream from: the CSI receivers (unicam on
// the Pi 4 and earlier, rp1-cfe on the Pi 5, raw Bayer that only libcamera makes
// pictures of), the ISPs and the codec.
var notCameras = []string{"unicam", "rp1-cfe", "bcm2835-isp", "pispbe", "bcm2835-codec", "rpivid"}

// Find returns the source URI auto stands for now: rpicam where rpicam-vid (or
// libcamera-vid) is installed and lists a camera, else the first V4L2 camera camnode can
// stream from. Its error says why neither is there.
func Find(ctx context.Context) (string, error) {
	var why []string
	if _, err := rpicam.Program(); err != nil {
		why = append(why, "no Pi camera: "+err.Error())
	} else if cams, err := rpicam.ListCameras(ctx); err != nil {
		why = append(why, "no Pi camera: "+err.Error())
	} else if len(cams) == 0 {
		why = append(why, "no Pi camera: rpicam-vid --list-cameras lists none (check the ribbon cable and camera_auto_detect=1 in /boot/firmware/config.txt)")
	} else {
		return "rpicam", nil
	}
	if !v4l2.Built {
		why = append(why, "no V4L2 camera: "+v4l2.ErrNotBuilt.Error())
	} else if devs, err := v4l2.ProbeAll(); err != nil {
		why = append(why, "no V4L2 camera: "+err.Error())
	} else {
		for _, d := range devs {
			if d.Usable && !slices.Contains(notCameras, d.Driver) {
				return "v4l2://" + d.Path, nil
			}
		}
		why = append(why, "no V4L2 camera: no /dev/video* device camnode can stream from (camnode probe lists them)")
	}
	return "", errors.New("CAMNODE_SOURCE=auto found no camera: " + why[0] + "; " + why[1] + "; set CAMNODE_SOURCE to rpicam, v4l2:///dev/videoN, exec:<command> or testsrc")
}
