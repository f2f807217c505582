package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/camnode/camnode/media/encoder/v4l2m2m"
	"github.com/camnode/camnode/media/source/rpicam"
	"github.com/camnode/camnode/media/source/v4l2"
)

const probeUsage = `usage: camnode probe [/dev/videoN ...] [--json]

Lists the Raspberry Pi cameras libcamera sees (rpicam-vid --list-cameras; CAMNODE_SOURCE=rpicam
or rpicam:N) when no device is named, then the V4L2 cameras (every /dev/video* when no device is named): driver, card, bus,
the formats with their sizes and frame rates, the encoder controls, and whether camnode
can stream from each (H.264 straight from the camera, or raw frames for an encoder).
Without a device named it also lists the memory-to-memory (hardware) encoders, with
the raw formats they take and the coded formats they give (CAMNODE_ENCODER=v4l2m2m:…).
--json prints the same, with every control, as a JSON array.
`

// runProbe is `camnode probe [device] [--json]`: the cameras, their formats, sizes, rates
// and controls.
func runProbe(args []string, stdout, stderr io.Writer) int {
	asJSON := false
	var paths []string
	for _, a := range args {
		switch a {
		case "--json", "-json":
			asJSON = true
		case "-h", "-help", "--help":
			fmt.Fprint(stdout, probeUsage)
			return 0
		default:
			if strings.HasPrefix(a, "-") {
				fmt.Fprintf(stderr, "camnode probe: unknown flag %s\n%s", a, probeUsage)
				return 2
			}
			paths = append(paths, a)
		}
	}
	var pis []rpicam.Camera
	if len(paths) == 0 && !asJSON {
		pis = probePiCameras(stdout)
	}
	if !v4l2.Built {
		fmt.Fprintf(stderr, "camnode probe: %v\n", v4l2.ErrNotBuilt)
		if len(pis) > 0 {
			return 0
		}
		return 1
	}
	var devs []v4l2.DeviceInfo
	if len(paths) == 0 {
		all, err := v4l2.ProbeAll()
		if err != nil {
			fmt.Fprintf(stderr, "camnode probe: %v\n", err)
			return 1
		}
		devs = all
	}
	for _, p := range paths {
		d, err := v4l2.Probe(p)
		if err != nil {
			fmt.Fprintf(stderr, "camnode probe: %v\n", err)
			return 1
		}
		devs = append(devs, d)
	}
	if asJSON {
		if devs == nil {
			devs = []v4l2.DeviceInfo{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(devs); err != nil {
			fmt.Fprintf(stderr, "camnode probe: %v\n", err)
			return 1
		}
	} else if err := writeProbeText(stdout, devs, len(paths) > 0, encodersFor(paths)); err != nil {
		fmt.Fprintf(stderr, "camnode probe: %v\n", err)
		return 1
	}
	if len(devs) == 0 && len(pis) == 0 {
		fmt.Fprintln(stderr, "camnode probe: no V4L2 devices (/dev/video*) found: is the camera plugged in and its driver loaded?")
		return 1
	}
	return 0
}

// probePiCameras writes the cameras rpicam-vid lists, and returns them; nothing when the
// camera app is not installed.
func probePiCameras(w io.Writer) []rpicam.Camera {
	if _, err := rpicam.Program(); err != nil {
		return nil
	}
	cams, err := rpicam.ListCameras(context.Background())
	fmt.Fprintln(w, "Raspberry Pi cameras (libcamera, rpicam-vid --list-cameras):")
	switch {
	case err != nil:
		fmt.Fprintf(w, "  %v\n\n", err)
	case len(cams) == 0:
		fmt.Fprintln(w, "  none: check the ribbon cable and camera_auto_detect=1 in /boot/firmware/config.txt")
		fmt.Fprintln(w)
	}
	for _, c := range cams {
		use := "CAMNODE_SOURCE=rpicam"
		if c.Index > 0 {
			use = fmt.Sprintf("CAMNODE_SOURCE=rpicam:%d", c.Index)
		}
		fmt.Fprintf(w, "  %s\n    camnode: %s\n", c, use)
		for _, m := range c.Modes {
			fmt.Fprintf(w, "    mode %s\n", m)
		}
		fmt.Fprintln(w)
	}
	return cams
}

// encodersFor lists the memory-to-memory encoders when no device is named.
func encodersFor(paths []string) []v4l2m2m.Info {
	if len(paths) > 0 {
		return nil
	}
	return v4l2m2m.Encoders()
}

// writeProbeText shows cameras in full; when listing everything, the memory-to-memory
// encoders follow, one line each, then the nodes that are neither (decoders, outputs,
// metadata, unreadable ones).
func writeProbeText(w io.Writer, devs []v4l2.DeviceInfo, named bool, encoders []v4l2m2m.Info) error {
	isEncoder := map[string]bool{}
	for _, e := range encoders {
		isEncoder[e.Path] = true
	}
	var others []string
	for _, d := range devs {
		if isEncoder[d.Path] {
			continue
		}
		if !named && len(d.Formats) == 0 && d.Reason != "" {
			others = append(others, fmt.Sprintf("  %s: %s", d.Path, d.Reason))
			continue
		}
		if err := d.WriteText(w); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	if len(encoders) > 0 {
		fmt.Fprintln(w, "Memory-to-memory encoders:")
		for _, e := range encoders {
			use := "not H.264: camnode cannot stream with it"
			if e.H264 {
				use = "CAMNODE_ENCODER=v4l2m2m:" + e.Path
			}
			fmt.Fprintf(w, "  %s: %s (%s), %s to %s; %s\n", e.Path, cmp.Or(e.Name, e.Card), e.Driver,
				strings.Join(e.Raw, " "), strings.Join(e.Coded, " "), use)
		}
		fmt.Fprintln(w)
	}
	if len(others) > 0 {
		_, err := fmt.Fprintf(w, "Not cameras camnode can use:\n%s\n", strings.Join(others, "\n"))
		return err
	}
	return nil
}
