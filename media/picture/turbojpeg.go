//go:build cgo

package picture

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

// The TurboJPEG 2 API (libturbojpeg.so.0), declared here so that building needs no
// libturbojpeg-dev: a handle is a void *, every call returns 0 or -1.
enum { cn_tjsamp_444, cn_tjsamp_422, cn_tjsamp_420, cn_tjsamp_gray, cn_tjsamp_440, cn_tjsamp_411 };
enum { cn_tjerr_warning = 0 };

static struct {
	void *(*init_decompress)(void);
	int (*decompress_header3)(void *, const unsigned char *, unsigned long, int *, int *, int *, int *);
	int (*decompress_to_yuv_planes)(void *, const unsigned char *, unsigned long, unsigned char **, int, int *, int, int);
	int (*destroy)(void *);
	char *(*get_error_str2)(void *);
	int (*get_error_code)(void *);
	int (*plane_width)(int, int, int);
	int (*plane_height)(int, int, int);
} tj;

static char tj_err[512];

static const char *tj_load(const char *name) {
	void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(tj_err, sizeof tj_err, "%s", dlerror());
		return tj_err;
	}
	struct { void **fn; const char *sym; } syms[] = {
		{(void **)&tj.init_decompress, "tjInitDecompress"},
		{(void **)&tj.decompress_header3, "tjDecompressHeader3"},
		{(void **)&tj.decompress_to_yuv_planes, "tjDecompressToYUVPlanes"},
		{(void **)&tj.destroy, "tjDestroy"},
		{(void **)&tj.get_error_str2, "tjGetErrorStr2"},
		{(void **)&tj.get_error_code, "tjGetErrorCode"},
		{(void **)&tj.plane_width, "tjPlaneWidth"},
		{(void **)&tj.plane_height, "tjPlaneHeight"},
	};
	for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
		*syms[i].fn = dlsym(lib, syms[i].sym);
		if (!*syms[i].fn) {
			snprintf(tj_err, sizeof tj_err, "%s has no %s (TurboJPEG 2.0 or later wanted)", name, syms[i].sym);
			dlclose(lib);
			return tj_err;
		}
	}
	return NULL;
}

static void *tj_init(void) { return tj.init_decompress(); }
static void tj_destroy(void *h) { tj.destroy(h); }
static int tj_header(void *h, const unsigned char *b, unsigned long n, int *w, int *hh, int *samp, int *cs) {
	return tj.decompress_header3(h, b, n, w, hh, samp, cs);
}
static int tj_decode(void *h, const unsigned char *b, unsigned long n, unsigned char **planes, int w, int *strides, int hh) {
	// The accurate integer DCT: with SIMD about as fast as the fast one, which is visibly off at
	// the high qualities webcams use.
	int rc = tj.decompress_to_yuv_planes(h, b, n, planes, w, strides, hh, 0);
	if (rc != 0 && tj.get_error_code(h) == cn_tjerr_warning) return 0; // decoded, with a complaint (a padded or clipped scan)
	return rc;
}
static const char *tj_error(void *h) { return tj.get_error_str2(h); }
static int tj_plane_width(int c, int w, int samp) { return tj.plane_width(c, w, samp); }
static int tj_plane_height(int c, int h, int samp) { return tj.plane_height(c, h, samp); }
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/camnode/camnode/media"
)

// TurboJPEGLibraryEnv, when set, names the one libturbojpeg to open instead of
// libturbojpeg.so.0 (a path or a name): for tests that hide the library.
const TurboJPEGLibraryEnv = "TURBOJPEG_LIBRARY"

// TurboJPEGPackage is the Debian (and Raspberry Pi OS) package of the library.
const TurboJPEGPackage = "libturbojpeg0"

var turboLoad = sync.OnceValue(func() error {
	names := []string{"libturbojpeg.so.0", "libturbojpeg.so"}
	if v := os.Getenv(TurboJPEGLibraryEnv); v != "" {
		names = []string{v}
	}
	var reasons []string
	for _, name := range names {
		cname := C.CString(name)
		msg := C.tj_load(cname)
		C.free(unsafe.Pointer(cname))
		if msg == nil {
			return nil
		}
		reasons = append(reasons, C.GoString(msg))
	}
	return fmt.Errorf("libturbojpeg not found, MJPEG is decoded by image/jpeg (about 5x slower): apt install %s (%s)",
		TurboJPEGPackage, strings.Join(reasons, "; "))
})

// TurboJPEGAvailable opens libturbojpeg on first use: nil when MJPEG is decoded by
// libjpeg-turbo, else why not (naming the package to install).
func TurboJPEGAvailable() error { return turboLoad() }

// turboDecoder is one TurboJPEG decompressor and the planes it decodes into.
type turboDecoder struct {
	h       unsafe.Pointer
	cmem    unsafe.Pointer // C memory: 3 plane pointers, then 3 int strides
	yuv     []byte         // the picture in its own subsampling
	i420    []byte         // converted to I420 when that is not 4:2:0
	cleanup runtime.Cleanup
}

func newTurboDecoder() *turboDecoder {
	d := &turboDecoder{h: C.tj_init()}
	if d.h == nil {
		return nil
	}
	d.cmem = C.calloc(1, C.size_t(3*unsafe.Sizeof(uintptr(0))+3*unsafe.Sizeof(C.int(0))))
	h, cmem := d.h, d.cmem
	d.cleanup = runtime.AddCleanup(d, func(struct{}) {
		C.tj_destroy(h)
		C.free(cmem)
	}, struct{}{})
	return d
}

func (d *turboDecoder) decode(data []byte, fr *media.Frame) error {
	if len(data) < 4 {
		return errors.New("MJPEG: picture of fewer than 4 bytes")
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	src := (*C.uchar)(unsafe.Pointer(&data[0]))
	pin.Pin(&data[0])
	var w, h, samp, cs C.int
	if C.tj_header(d.h, src, C.ulong(len(data)), &w, &h, &samp, &cs) != 0 {
		return fmt.Errorf("MJPEG: %s", C.GoString(C.tj_error(d.h)))
	}
	if w <= 0 || h <= 0 || w > 16384 || h > 16384 {
		return fmt.Errorf("MJPEG: picture size %dx%d", int(w), int(h))
	}
	nplanes := 3
	if samp == C.cn_tjsamp_gray {
		nplanes = 1
	}
	var pw, ph [3]int
	total := 0
	for i := range nplanes {
		pw[i] = int(C.tj_plane_width(C.int(i), w, samp))
		ph[i] = int(C.tj_plane_height(C.int(i), h, samp))
		if pw[i] <= 0 || ph[i] <= 0 {
			return fmt.Errorf("MJPEG: subsampling %d of a %dx%d picture not supported", int(samp), int(w), int(h))
		}
		total += pw[i] * ph[i]
	}
	d.yuv = grow(d.yuv, total)
	pin.Pin(&d.yuv[0])
	planes := unsafe.Slice((**C.uchar)(d.cmem), 3)
	strides := unsafe.Slice((*C.int)(unsafe.Add(d.cmem, 3*unsafe.Sizeof(uintptr(0)))), 3)
	var goPlanes [3][]byte
	off := 0
	for i := range 3 {
		planes[i], strides[i] = nil, 0
		if i < nplanes {
			goPlanes[i] = d.yuv[off : off+pw[i]*ph[i]]
			planes[i] = (*C.uchar)(unsafe.Pointer(&d.yuv[off]))
			strides[i] = C.int(pw[i])
			off += pw[i] * ph[i]
		}
	}
	rc := C.tj_decode(d.h, src, C.ulong(len(data)), &planes[0], w, &strides[0], h)
	for i := range 3 {
		planes[i] = nil // no Go pointer outlives the pin
	}
	if rc != 0 {
		return fmt.Errorf("MJPEG: %s", C.GoString(C.tj_error(d.h)))
	}
	iw, ih := int(w), int(h)
	if samp == C.cn_tjsamp_420 {
		*fr = media.Frame{Format: media.PixelI420, Width: iw, Height: ih, Planes: goPlanes,
			Strides: [3]int{pw[0], pw[1], pw[2]}}
		return nil
	}
	// Another subsampling: chroma sample (cx, cy) of I420 covers luma (2cx, 2cy); take the
	// picture's sample there.
	d.i420 = grow(d.i420, I420Size(iw, ih))
	SetI420(fr, d.i420, iw, ih)
	for y := range ih {
		copy(fr.Planes[0][y*iw:(y+1)*iw], goPlanes[0][y*pw[0]:])
	}
	if nplanes == 1 {
		fillGrey(fr)
		return nil
	}
	cw, ch := (iw+1)/2, (ih+1)/2
	// Luma pixels per chroma sample, across and down.
	sx, sy := (iw+pw[1]-1)/pw[1], (ih+ph[1]-1)/ph[1]
	for cy := range ch {
		row := min(2*cy/sy, ph[1]-1) * pw[1]
		for cx := range cw {
			ci := row + min(2*cx/sx, pw[1]-1)
			fr.Planes[1][cy*cw+cx] = goPlanes[1][ci]
			fr.Planes[2][cy*cw+cx] = goPlanes[2][ci]
		}
	}
	return nil
}
