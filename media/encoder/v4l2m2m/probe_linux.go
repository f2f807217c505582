package v4l2m2m

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Info describes a memory-to-memory device as `camnode probe` shows it.
type Info struct {
	Path   string `json:"path"`
	Name   string `json:"name"` // the node's name (sysfs), e.g. "bcm2835-codec-encode"
	Driver string `json:"driver"`
	Card   string `json:"card"`
	// MultiPlanar says the device uses the multi-planar API (bcm2835-codec does).
	MultiPlanar bool `json:"multi_planar"`
	// Raw are the formats its OUTPUT queue takes, Coded those its CAPTURE queue gives,
	// as FourCC names ("YU12", "NV12"; "H264", "FWHT", …).
	Raw   []string `json:"raw"`
	Coded []string `json:"coded"`
	// Encoder is true when it turns raw pictures into a coded format (not a decoder,
	// a scaler or an image converter).
	Encoder bool `json:"encoder"`
	// H264 is true when it is an encoder camnode can stream with (H.264 from I420 or NV12).
	H264 bool `json:"h264"`
	// Decoder is true when it turns a coded format into raw pictures.
	Decoder bool `json:"decoder"`
}

// Probe describes the memory-to-memory device at path; an error wrapping
// ErrNotM2M when it is something else (a camera, say).
func Probe(path string) (Info, error) {
	d, err := openDevice(path)
	if err != nil {
		return Info{Path: path}, err
	}
	defer d.close()
	name, _ := os.ReadFile("/sys/class/video4linux/" + filepath.Base(path) + "/name")
	in := Info{Path: path, Name: strings.TrimSpace(string(name)), Driver: cString(d.cap.Driver[:]), Card: cString(d.cap.Card[:]), MultiPlanar: d.mplane,
		Raw: []string{}, Coded: []string{}}
	raw, err := d.formats(d.outputType())
	if err != nil {
		return in, err
	}
	coded, err := d.formats(d.captureType())
	if err != nil {
		return in, err
	}
	rawIn, codedIn := false, false
	for _, f := range raw {
		in.Raw = append(in.Raw, fourCCName(f.FourCC))
		rawIn = rawIn || !f.Compressed
		codedIn = codedIn || f.Compressed
		if f.FourCC == fccI420 || f.FourCC == fccNV12 {
			in.H264 = true // for now: takes camnode's frames
		}
	}
	codedOut, rawOut := false, false
	for _, f := range coded {
		in.Coded = append(in.Coded, fourCCName(f.FourCC))
		codedOut = codedOut || f.Compressed
		rawOut = rawOut || !f.Compressed
	}
	in.Encoder = rawIn && codedOut
	in.Decoder = codedIn && rawOut
	in.H264 = in.H264 && in.Encoder && slices.Contains(in.Coded, "H264")
	return in, nil
}

// ErrNotM2M is wrapped by Probe's error for a device that is not memory-to-memory.
var ErrNotM2M = errNotM2M

// Encoders describes every memory-to-memory encoder among /dev/video*, in number
// order; other nodes are left out.
func Encoders() []Info {
	paths, _ := filepath.Glob("/dev/video*")
	slices.SortFunc(paths, func(a, b string) int {
		na, _ := strconv.Atoi(strings.TrimPrefix(a, "/dev/video"))
		nb, _ := strconv.Atoi(strings.TrimPrefix(b, "/dev/video"))
		return cmp.Or(cmp.Compare(na, nb), cmp.Compare(a, b))
	})
	var out []Info
	for _, p := range paths {
		// Cameras, and nodes that are busy or gone, are not listed.
		if in, err := Probe(p); err == nil && in.Encoder {
			out = append(out, in)
		}
	}
	return out
}

// FindH264 returns the first memory-to-memory encoder that makes H.264 from camnode's
// frames (for CAMNODE_ENCODER=auto), preferring DefaultDevice; false when there is none.
func FindH264() (Info, bool) {
	if in, err := Probe(DefaultDevice); err == nil && in.H264 {
		return in, true
	}
	for _, in := range Encoders() {
		if in.H264 {
			return in, true
		}
	}
	return Info{}, false
}
