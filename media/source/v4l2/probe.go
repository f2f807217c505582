package v4l2

import (
	"cmp"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Probe describes the device at path: who made it, what it can do, its formats with sizes
// and frame rates, its controls, and whether and how camnode can capture from it.
func Probe(path string) (DeviceInfo, error) {
	cam, err := openCamera(path)
	if err != nil {
		return DeviceInfo{Path: path}, err
	}
	defer cam.close()
	return describe(cam)
}

// ProbeAll describes every /dev/video* node in number order. A node that cannot be
// opened is listed with the reason.
func ProbeAll() ([]DeviceInfo, error) {
	paths, err := filepath.Glob("/dev/video*")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(paths, func(a, b string) int {
		na, _ := strconv.Atoi(strings.TrimPrefix(a, "/dev/video"))
		nb, _ := strconv.Atoi(strings.TrimPrefix(b, "/dev/video"))
		return cmp.Or(cmp.Compare(na, nb), cmp.Compare(a, b))
	})
	var out []DeviceInfo
	for _, p := range paths {
		d, err := Probe(p)
		if err != nil {
			d.Reason = err.Error()
		}
		out = append(out, d)
	}
	return out, nil
}

func describe(cam camera) (DeviceInfo, error) {
	c := cam.info()
	d := DeviceInfo{Path: cam.path(), Driver: c.driver, Card: c.card, Bus: c.bus, Version: c.version,
		Formats: []FormatInfo{}, Controls: []Control{}}
	for _, n := range capNames {
		if c.caps&n.bit != 0 {
			d.Capabilities = append(d.Capabilities, n.name)
		}
	}
	if err := checkCapture(cam); err != nil {
		d.Reason = err.Error()
		if c.caps&(capVideoM2M|capVideoM2MMPlane) != 0 && c.caps&(capVideoCapture|capVideoCaptureMPlan) == 0 {
			d.Reason = m2mReason(d.Path, c.card)
		}
		return d, nil
	}
	formats, err := cam.formats()
	if err != nil {
		return d, err
	}
	for _, f := range formats {
		sizes, err := cam.frameSizes(f.code)
		if err != nil {
			return d, err
		}
		for i := range sizes {
			s := &sizes[i]
			w, h := s.Width, s.Height
			if s.MaxWidth > 0 {
				w, h = s.MaxWidth, s.MaxHeight
			}
			if s.FPS, s.MinFPS, s.MaxFPS, err = cam.frameRates(f.code, w, h); err != nil {
				return d, err
			}
		}
		f.Sizes = sizes
		if f.Sizes == nil {
			f.Sizes = []FrameSize{}
		}
		d.Formats = append(d.Formats, f)
		switch {
		case f.code == fccH264:
			d.Mode = "h264"
		case f.Supported && d.Mode == "":
			d.Mode = "raw" // only when there is no H.264
		}
	}
	d.Usable = d.Mode != ""
	if !d.Usable {
		d.Reason = "no format camnode can use (it takes H264, " + strings.Join(rawNames(), ", ") + ")"
	}
	if cur, err := cam.current(); err == nil {
		d.Current = &cur
	}
	if d.Controls, err = cam.controls(); err != nil {
		return d, err
	}
	return d, nil
}

// WriteText writes the description for people, in the spirit of
// `v4l2-ctl --list-formats-ext` but shorter: the formats camnode can use with their sizes
// and rates, the others by name, the encoder (codec class) controls in full.
func (d DeviceInfo) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", d.Path)
	if d.Card != "" {
		fmt.Fprintf(&b, ": %s", d.Card)
	}
	b.WriteString("\n")
	if d.Driver != "" {
		fmt.Fprintf(&b, "  driver:   %s %s, bus %s\n", d.Driver, d.Version, d.Bus)
		fmt.Fprintf(&b, "  caps:     %s\n", strings.Join(d.Capabilities, ", "))
	}
	switch {
	case d.Mode == "h264":
		b.WriteString("  camnode:  usable, H.264 straight from the camera\n")
	case d.Mode == "raw":
		b.WriteString("  camnode:  usable with an H.264 encoder (raw formats only)\n")
	default:
		fmt.Fprintf(&b, "  camnode:  not usable: %s\n", d.Reason)
	}
	if d.Current != nil {
		fmt.Fprintf(&b, "  current:  %s\n", d.Current)
	}
	var unused []string
	if len(d.Formats) > 0 {
		b.WriteString("  formats:\n")
	}
	for _, f := range d.Formats {
		if !f.Supported {
			unused = append(unused, f.FourCC)
			continue
		}
		kind := "raw"
		if f.code == fccH264 || f.FourCC == "H264" {
			kind = "H.264 passthrough"
		} else if f.Compressed {
			kind = "raw, decoded by camnode"
		}
		fmt.Fprintf(&b, "    %-4s  %s (%s)\n", f.FourCC, f.Description, kind)
		for _, s := range f.Sizes {
			fmt.Fprintf(&b, "      %-11s %s\n", sizeText(s), ratesText(s))
		}
		if len(f.Sizes) == 0 {
			b.WriteString("      (the driver does not list sizes)\n")
		}
	}
	if len(unused) > 0 {
		fmt.Fprintf(&b, "    also offered, not used by camnode: %s\n", strings.Join(unused, " "))
	}
	var codec, other int
	for _, c := range d.Controls {
		if c.Class == "codec" {
			codec++
		} else {
			other++
		}
	}
	if codec > 0 {
		b.WriteString("  encoder controls:\n")
		for _, c := range d.Controls {
			if c.Class == "codec" {
				fmt.Fprintf(&b, "    %s\n", controlText(c))
			}
		}
	} else if d.Driver != "" && d.Reason == "" {
		b.WriteString("  encoder controls: none\n")
	}
	if other > 0 {
		fmt.Fprintf(&b, "  other controls: %d (camnode probe --json lists them)\n", other)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sizeText(s FrameSize) string {
	if s.MaxWidth > 0 {
		return fmt.Sprintf("%dx%d-%dx%d step %dx%d", s.Width, s.Height, s.MaxWidth, s.MaxHeight, s.StepWidth, s.StepHeight)
	}
	return fmt.Sprintf("%dx%d", s.Width, s.Height)
}

func ratesText(s FrameSize) string {
	var r []string
	for _, f := range s.FPS {
		r = append(r, formatFPS(f))
	}
	switch {
	case len(r) > 0:
		return strings.Join(r, ", ") + " fps"
	case s.MaxFPS > 0:
		return fmt.Sprintf("%s-%s fps", formatFPS(s.MinFPS), formatFPS(s.MaxFPS))
	default:
		return ""
	}
}

func controlText(c Control) string {
	v := "-"
	if c.Value != nil {
		v = controlValue(c, *c.Value)
	}
	s := fmt.Sprintf("%-28s %-8s %-12s", c.Name, c.Type, v)
	switch {
	case len(c.Menu) > 0:
		var names []string
		for _, m := range c.Menu {
			names = append(names, m.Name)
		}
		s += " [" + strings.Join(names, ", ") + "]"
	case c.typ == ctrlTypeInteger || c.typ == ctrlTypeInteger64:
		s += fmt.Sprintf(" %d..%d step %d, default %d", c.Min, c.Max, c.Step, c.Default)
	}
	return strings.TrimRight(s, " ")
}
