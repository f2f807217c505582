//go:build linux && vmtest

// The encoder proven on a real kernel driver: vicodec (FWHT encoder and stateful
// decoder), loaded in the VM of scripts/ci/vm.sh, which runs this test binary there:
//
//	go test -c -tags vmtest ./media/encoder/v4l2m2m && scripts/vm/run.sh --vicodec multiplanar=1 v4l2m2m.test -- -test.v
//
// CAMNODE_VM_CAMNODE names the camnode binary for the probe check.

package v4l2m2m

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
	"golang.org/x/sys/unix"
)

// vicodec finds its encoder and decoder nodes; the test fails when they are missing
// (in the VM they must be there).
func vicodec(t *testing.T) (enc, dec string) {
	t.Helper()
	for i := range 64 {
		p := fmt.Sprintf("/dev/video%d", i)
		in, err := Probe(p)
		switch {
		case err != nil:
		case in.Name == "stateful-encoder" && in.Encoder:
			enc = p
		case in.Name == "stateful-decoder" && in.Decoder:
			dec = p
		}
	}
	if enc == "" || dec == "" {
		t.Fatalf("vicodec not loaded: encoder %q, decoder %q", enc, dec)
	}
	return enc, dec
}

// pattern is a test picture that changes with n: gradients, a moving box, coloured
// chroma, in I420 or NV12 with a stride wider than the picture.
func pattern(format media.PixelFormat, w, h, n int) *media.Frame {
	f := &media.Frame{Format: format, Width: w, Height: h, Time: time.Duration(n) * time.Second / 30}
	ys := w + 16
	f.Planes[0], f.Strides[0] = make([]byte, ys*h), ys
	bx, by := (n*7)%(w-40), (n*3)%(h-40)
	for y := range h {
		for x := range w {
			v := (x*255/w + y*128/h) & 0xff
			if x >= bx && x < bx+40 && y >= by && y < by+40 {
				v = 235
			}
			f.Planes[0][y*ys+x] = byte(v)
		}
	}
	cw, ch := w/2, h/2
	u := func(x, y int) byte { return byte(64 + x*128/cw) }
	v := func(x, y int) byte { return byte(192 - y*128/ch) }
	switch format {
	case media.PixelI420:
		cs := cw + 8
		f.Planes[1], f.Planes[2] = make([]byte, cs*ch), make([]byte, cs*ch)
		f.Strides[1], f.Strides[2] = cs, cs
		for y := range ch {
			for x := range cw {
				f.Planes[1][y*cs+x], f.Planes[2][y*cs+x] = u(x, y), v(x, y)
			}
		}
	case media.PixelNV12:
		cs := w + 16
		f.Planes[1], f.Strides[1] = make([]byte, cs*ch), cs
		for y := range ch {
			for x := range cw {
				f.Planes[1][y*cs+2*x], f.Planes[1][y*cs+2*x+1] = u(x, y), v(x, y)
			}
		}
	}
	return f
}

// coded is one access unit kept after emit returned.
type coded struct {
	data     []byte
	keyframe bool
	time     time.Duration
}

func encodeAll(t *testing.T, e *Encoder, frames []*media.Frame, force map[int]bool) []coded {
	t.Helper()
	var out []coded
	for i, f := range frames {
		n := 0
		err := e.Encode(f, force[i], func(au *media.AccessUnit) error {
			n++
			if len(au.NALUs) != 1 {
				return fmt.Errorf("FWHT access unit with %d parts", len(au.NALUs))
			}
			out = append(out, coded{append([]byte(nil), au.NALUs[0]...), au.Keyframe, au.Time})
			return nil
		})
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if n != 1 {
			t.Fatalf("frame %d: %d access units, want 1", i, n)
		}
	}
	return out
}

// decoder is vicodec's stateful decoder driven by the V4L2 decoder interface
// (dev-decoder.rst): coded frames into OUTPUT, then on V4L2_EVENT_SOURCE_CHANGE the
// CAPTURE queue is set up and pictures come out.
type decoder struct {
	d        *device
	out, cap []mapped
	format   planeFormat
	pictures [][]byte
	done     bool
}

func openDecoder(t *testing.T, path string, w, h int) *decoder {
	t.Helper()
	d, err := openDevice(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := &decoder{d: d}
	t.Cleanup(func() {
		d.stream(d.outputType(), false)
		d.stream(d.captureType(), false)
		unmap(dec.out)
		unmap(dec.cap)
		d.close()
	})
	if _, err := d.setFormat(d.outputType(), true, planeFormat{Width: uint32(w), Height: uint32(h), PixelFormat: CodedFWHT}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(d.subscribe(eventSourceChange), d.subscribe(eventEOS)); err != nil {
		t.Fatal(err)
	}
	if dec.out, err = d.mapBuffers(d.outputType(), 2); err != nil {
		t.Fatal(err)
	}
	if err := d.stream(d.outputType(), true); err != nil {
		t.Fatal(err)
	}
	return dec
}

// pump handles what the decoder has ready, waiting at most wait for something.
func (dec *decoder) pump(t *testing.T, wait time.Duration) {
	t.Helper()
	d := dec.d
	if _, err := d.wait(unix.POLLIN|unix.POLLOUT|unix.POLLPRI, int(wait.Milliseconds())); err != nil {
		t.Fatal(err)
	}
	for {
		typ, err := d.nextEvent()
		if err != nil {
			break
		}
		if typ == eventSourceChange && dec.cap == nil {
			f, err := d.setFormat(d.captureType(), false, planeFormat{})
			if err != nil {
				t.Fatal(err)
			}
			dec.format = f
			if dec.cap, err = d.mapBuffers(d.captureType(), 4); err != nil {
				t.Fatal(err)
			}
			for i := range dec.cap {
				if err := d.queue(d.captureType(), uint32(i), 0, unix.Timeval{}, 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.stream(d.captureType(), true); err != nil {
				t.Fatal(err)
			}
		}
	}
	for {
		b, err := d.dequeue(d.outputType())
		if err != nil {
			break
		}
		dec.out[b.Index].queued = false
	}
	for dec.cap != nil {
		b, err := d.dequeue(d.captureType())
		if errors.Is(err, unix.EPIPE) {
			dec.done = true
			return
		}
		if err != nil {
			break
		}
		if b.BytesUsed > 0 {
			dec.pictures = append(dec.pictures, append([]byte(nil), dec.cap[b.Index].mem[b.Offset:b.Offset+b.BytesUsed]...))
		}
		if b.Flags&bufFlagLast != 0 {
			dec.done = true
			return
		}
		if err := d.queue(d.captureType(), b.Index, 0, unix.Timeval{}, 0); err != nil {
			t.Fatal(err)
		}
	}
}

func (dec *decoder) decode(t *testing.T, frames []coded) [][]byte {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for i, c := range frames {
		for {
			free := -1
			for j := range dec.out {
				if !dec.out[j].queued {
					free = j
					break
				}
			}
			if free >= 0 {
				copy(dec.out[free].mem, c.data)
				if err := dec.d.queue(dec.d.outputType(), uint32(free), uint32(len(c.data)), unix.Timeval{}, 0); err != nil {
					t.Fatalf("coded frame %d: %v", i, err)
				}
				dec.out[free].queued = true
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("decoder took no coded frame %d within 60 s", i)
			}
			dec.pump(t, 100*time.Millisecond)
		}
		dec.pump(t, 0)
	}
	if err := dec.d.decoderCommand(decCmdStop); err != nil {
		t.Fatalf("VIDIOC_DECODER_CMD(STOP): %v", err)
	}
	for !dec.done {
		if time.Now().After(deadline) {
			t.Fatalf("decoder did not finish within 60 s: %d of %d pictures", len(dec.pictures), len(frames))
		}
		dec.pump(t, 100*time.Millisecond)
	}
	return dec.pictures
}

// psnr compares a decoded I420 picture (the decoder's bytesperline, planes one after
// the other) with the frame that was encoded; it returns the luma and chroma PSNR in dB.
func psnr(f *media.Frame, pic []byte, bpl int) (luma, chroma float64) {
	w, h := f.Width, f.Height
	cw, ch := w/2, h/2
	mse := func(get func(x, y int) (a, b byte), pw, ph int) float64 {
		var s float64
		for y := range ph {
			for x := range pw {
				a, b := get(x, y)
				d := float64(a) - float64(b)
				s += d * d
			}
		}
		return s / float64(pw*ph)
	}
	db := func(m float64) float64 {
		if m == 0 {
			return 99
		}
		return 10 * math.Log10(255*255/m)
	}
	src := func(plane, x, y int) byte {
		switch {
		case f.Format == media.PixelNV12 && plane > 0:
			return f.Planes[1][y*f.Strides[1]+2*x+plane-1]
		default:
			return f.Planes[plane][y*f.Strides[plane]+x]
		}
	}
	cb := bpl / 2
	luma = db(mse(func(x, y int) (byte, byte) { return src(0, x, y), pic[y*bpl+x] }, w, h))
	u := pic[bpl*h:]
	v := u[cb*ch:]
	chroma = db((mse(func(x, y int) (byte, byte) { return src(1, x, y), u[y*cb+x] }, cw, ch) +
		mse(func(x, y int) (byte, byte) { return src(2, x, y), v[y*cb+x] }, cw, ch)) / 2)
	return luma, chroma
}

// TestVicodecRoundTrip: frames encoded by vicodec's encoder through Encoder, decoded by
// vicodec's decoder, look like the frames that went in; keyframes come every GOP, and
// the coded frames carry the frames' times.
func TestVicodecRoundTrip(t *testing.T) {
	enc, decPath := vicodec(t)
	for _, format := range []media.PixelFormat{media.PixelI420, media.PixelNV12} {
		t.Run(fmt.Sprint("format", format), func(t *testing.T) {
			const w, h, n, gop = 640, 480, 30, 10
			e, err := Open(encoder.Options{Width: w, Height: h, FPS: 30, GOP: gop}, Params{Device: enc, Coded: CodedFWHT, Raw: format})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("settings vicodec lacks: %s", strings.Join(e.Unsupported(), "; "))
			var frames []*media.Frame
			for i := range n {
				frames = append(frames, pattern(format, w, h, i))
			}
			out := encodeAll(t, e, frames, nil)
			if err := e.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			for i, c := range out {
				if want := i%gop == 0; c.keyframe != want {
					t.Errorf("coded frame %d: keyframe %v, want %v (GOP %d)", i, c.keyframe, want, gop)
				}
				if c.time != frames[i].Time {
					t.Errorf("coded frame %d: time %v, want the frame's %v", i, c.time, frames[i].Time)
				}
			}
			dec := openDecoder(t, decPath, w, h)
			pics := dec.decode(t, out)
			if len(pics) != n {
				t.Fatalf("decoded %d pictures of %d", len(pics), n)
			}
			if dec.format.PixelFormat != fccI420 || dec.format.Width != w || dec.format.Height != h {
				t.Fatalf("decoder gives %s %dx%d", fourCCName(dec.format.PixelFormat), dec.format.Width, dec.format.Height)
			}
			worst := 99.0
			for i, p := range pics {
				l, c := psnr(frames[i], p, int(dec.format.BytesPerLine))
				worst = min(worst, l, c)
				if l < 30 || c < 30 {
					t.Errorf("picture %d: PSNR luma %.1f dB, chroma %.1f dB, want 30 or more", i, l, c)
				}
			}
			// A picture that is not the one encoded must fail the comparison.
			if l, _ := psnr(frames[0], pics[n/2], int(dec.format.BytesPerLine)); l >= 30 {
				t.Errorf("picture %d compared with frame 0: %.1f dB, the comparison cannot tell frames apart", n/2, l)
			}
			t.Logf("FIGURE vicodec round trip %dx%d %v: %d frames, worst PSNR %.1f dB, %d bytes coded (first keyframe %d bytes)",
				w, h, format, n, worst, total(out), len(out[0].data))
		})
	}
}

func total(cs []coded) int {
	n := 0
	for _, c := range cs {
		n += len(c.data)
	}
	return n
}

// TestVicodecKeyframeOnRequest: with a GOP longer than the stream, only the first
// frame and the requested ones are keyframes (vicodec has no FORCE_KEY_FRAME control:
// this proves the restart path).
func TestVicodecKeyframeOnRequest(t *testing.T) {
	enc, decPath := vicodec(t)
	const w, h = 640, 480
	e, err := Open(encoder.Options{Width: w, Height: h, GOP: 1000}, Params{Device: enc, Coded: CodedFWHT})
	if err != nil {
		t.Fatal(err)
	}
	var frames []*media.Frame
	for i := range 16 {
		frames = append(frames, pattern(media.PixelI420, w, h, i))
	}
	force := map[int]bool{5: true, 12: true}
	out := encodeAll(t, e, frames, force)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	var keys []int
	for i, c := range out {
		if c.keyframe {
			keys = append(keys, i)
		}
	}
	if fmt.Sprint(keys) != "[0 5 12]" {
		t.Errorf("keyframes at %v, want [0 5 12]", keys)
	}
	// The stream still decodes across the restarts.
	dec := openDecoder(t, decPath, w, h)
	pics := dec.decode(t, out)
	if len(pics) != len(out) {
		t.Fatalf("decoded %d of %d", len(pics), len(out))
	}
	for _, i := range []int{5, 6, 12, 15} {
		if l, _ := psnr(frames[i], pics[i], int(dec.format.BytesPerLine)); l < 30 {
			t.Errorf("picture %d after a requested keyframe: PSNR %.1f dB", i, l)
		}
	}
}

// TestVicodecCycles: 20 open, encode, close cycles leave no descriptor, mapping or
// goroutine behind.
func TestVicodecCycles(t *testing.T) {
	enc, _ := vicodec(t)
	cycle := func() {
		e, err := Open(encoder.Options{Width: 640, Height: 480}, Params{Device: enc, Coded: CodedFWHT})
		if err != nil {
			t.Fatal(err)
		}
		encodeAll(t, e, []*media.Frame{pattern(media.PixelI420, 640, 480, 0), pattern(media.PixelI420, 640, 480, 1)}, nil)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cycle() // warm up
	fds, maps, gor := openFDs(t), mappings(t), runtime.NumGoroutine()
	for range 20 {
		cycle()
	}
	// Mappings: the Go runtime maps a little memory of its own as the heap grows; buffers
	// left mapped would add at least one mapping a cycle (20).
	if f, m, g := openFDs(t), mappings(t), runtime.NumGoroutine(); f != fds || m > maps+5 || g > gor {
		t.Errorf("after 20 cycles: %d descriptors (before %d), %d mappings (before %d), %d goroutines (before %d)", f, fds, m, maps, g, gor)
	}
}

func mappings(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// TestVicodecErrors: what a user can get wrong gives an error that says what, never a
// panic or a hang.
func TestVicodecErrors(t *testing.T) {
	enc, _ := vicodec(t)
	if _, err := Open(encoder.Options{Width: 320, Height: 240}, Params{Device: enc, Coded: CodedFWHT}); err == nil || !strings.Contains(err.Error(), "640x") {
		t.Errorf("320x240 from vicodec (640x360 at least): %v, want an error saying what it offers", err)
	}
	o := encoder.Options{Width: 640, Height: 480}
	if _, err := Open(o, Params{Device: enc}); err == nil || !strings.Contains(err.Error(), "coded format H264 not offered") || !strings.Contains(err.Error(), "FWHT") {
		t.Errorf("H.264 from vicodec: %v, want an error naming what it offers", err)
	}
	if _, err := Open(o, Params{Device: "/dev/video0"}); !errors.Is(err, ErrNotM2M) {
		t.Errorf("the vivid camera as an encoder: %v, want ErrNotM2M", err)
	}
	e, err := Open(o, Params{Device: enc, Coded: CodedFWHT})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Encode(pattern(media.PixelI420, 320, 240, 0), false, func(*media.AccessUnit) error { return nil }); err == nil || !strings.Contains(err.Error(), "320x240") {
		t.Errorf("a 320x240 frame into a 640x480 encoder: %v", err)
	}
	if err := e.Encode(pattern(media.PixelNV12, 640, 480, 0), false, func(*media.AccessUnit) error { return nil }); err == nil {
		t.Error("an NV12 frame into an I420 encoder was taken")
	}
	boom := errors.New("publisher gone")
	if err := e.Encode(pattern(media.PixelI420, 640, 480, 0), false, func(*media.AccessUnit) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("emit's error: %v", err)
	}
	// The encoder goes on after emit failed.
	encodeAll(t, e, []*media.Frame{pattern(media.PixelI420, 640, 480, 1)}, nil)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Encode(pattern(media.PixelI420, 640, 480, 0), false, nil); err == nil {
		t.Error("Encode after Close succeeded")
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestVicodecProbe: Probe and `camnode probe` list vicodec's encoder with its coded format.
func TestVicodecProbe(t *testing.T) {
	enc, _ := vicodec(t)
	in, err := Probe(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !in.Encoder || in.H264 || !strings.Contains(strings.Join(in.Coded, " "), "FWHT") || !strings.Contains(strings.Join(in.Raw, " "), "YU12") {
		t.Errorf("Probe(%s) = %+v", enc, in)
	}
	found := false
	for _, i := range Encoders() {
		found = found || i.Path == enc
	}
	if !found {
		t.Errorf("Encoders() does not list %s", enc)
	}
	bin := os.Getenv("CAMNODE_VM_CAMNODE")
	if bin == "" {
		t.Fatal("CAMNODE_VM_CAMNODE is not set")
	}
	out, err := exec.Command(bin, "probe").CombinedOutput()
	t.Logf("camnode probe:\n%s", out)
	if err != nil {
		t.Fatalf("camnode probe: %v", err)
	}
	for _, want := range []string{"Memory-to-memory encoders", enc + ": stateful-encoder", "FWHT", "not H.264", "vivid"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("camnode probe does not say %q", want)
		}
	}
}

// TestVicodecFigure measures the encode cost per frame at 1280x720 (for the record:
// the VM may be emulated, TCG, which makes it slow).
func TestVicodecFigure(t *testing.T) {
	enc, _ := vicodec(t)
	const w, h, n = 1280, 720, 30
	e, err := Open(encoder.Options{Width: w, Height: h}, Params{Device: enc, Coded: CodedFWHT})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	frames := []*media.Frame{pattern(media.PixelI420, w, h, 0), pattern(media.PixelI420, w, h, 1)}
	var ru0, ru1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	start := time.Now()
	for i := range n {
		f := *frames[i%2]
		f.Time = time.Duration(i) * time.Second / 30
		if err := e.Encode(&f, false, func(*media.AccessUnit) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	wall := time.Since(start)
	unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	sys := time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano()) / n
	usr := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()) / n
	t.Logf("FIGURE vicodec FWHT encode %dx%d in the VM: %v wall per frame, CPU %v kernel (the codec) + %v user (camnode's copy) per frame, over %d frames",
		w, h, (wall / n).Round(time.Microsecond), sys.Round(time.Microsecond), usr.Round(time.Microsecond), n)
}
