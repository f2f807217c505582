//go:build cgo && !nox264

// Package x264 is the H.264 encoder of camnode: libx264, opened at run time with dlopen
// (build tag nox264 leaves it out). Building needs no libx264; running an encoder needs
// the shared library of X264_BUILD 164 (Debian and Raspberry Pi OS: libx264-164).
package x264

/*
#cgo LDFLAGS: -ldl -lpthread
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// The parts of x264.h (X264_BUILD 164) camnode touches, declared here so that building
// needs no libx264-dev. Only leading fields are declared: camnode allocates the real
// structures with room to spare (cn_param_size, cn_picture_size) and lets libx264 fill
// them, then reads or writes these fields through the prefixes. The C compiler lays the
// prefixes out for each target exactly as x264.h's structures (all leading fields are
// int, int64_t or pointers, in x264.h's order).
typedef struct {
	int      i_csp;
	int      i_plane;
	int      i_stride[4];
	uint8_t *plane[4];
} cn_image;

typedef struct { // x264_picture_t up to img
	int      i_type;
	int      i_qpplus1;
	int      i_pic_struct;
	int      b_keyframe;
	int64_t  i_pts;
	int64_t  i_dts;
	void    *param;
	cn_image img;
} cn_picture;

typedef struct { // x264_nal_t, whole: x264 returns arrays of them
	int      i_ref_idc;
	int      i_type;
	int      b_long_startcode;
	int      i_first_mb;
	int      i_last_mb;
	int      i_payload;
	uint8_t *p_payload;
	int      i_padding;
} cn_nal;

typedef struct { // x264_param_t up to i_csp
	uint32_t cpu;
	int      i_threads;
	int      i_lookahead_threads;
	int      b_sliced_threads;
	int      b_deterministic;
	int      b_cpu_independent;
	int      i_sync_lookahead;
	int      i_width;
	int      i_height;
	int      i_csp;
} cn_param;

// sizeof(x264_param_t) is 1024 and sizeof(x264_picture_t) 240 on amd64 (less on 32-bit).
enum { cn_param_size = 4096, cn_picture_size = 1024 };
enum { cn_csp_i420 = 0x0002, cn_csp_nv12 = 0x0004, cn_type_idr = 0x0001 };

static struct {
	int  (*param_default_preset)(void *, const char *, const char *);
	int  (*param_apply_profile)(void *, const char *);
	int  (*param_parse)(void *, const char *, const char *);
	void *(*encoder_open)(void *);
	int  (*encoder_encode)(void *, cn_nal **, int *, void *, void *);
	void (*encoder_close)(void *);
	void (*picture_init)(void *);
} cn;

static char cn_err[512];

// cn_load opens the library and resolves every function camnode calls; it returns NULL or
// the reason (copied: dlerror's text lives only until the next dl call of the thread).
static const char *cn_load(const char *name) {
	void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(cn_err, sizeof cn_err, "%s", dlerror());
		return cn_err;
	}
	struct { void **fn; const char *sym; } syms[] = {
		{(void **)&cn.param_default_preset, "x264_param_default_preset"},
		{(void **)&cn.param_apply_profile, "x264_param_apply_profile"},
		{(void **)&cn.param_parse, "x264_param_parse"},
		{(void **)&cn.encoder_open, "x264_encoder_open_164"}, // the x264_encoder_open macro of build 164
		{(void **)&cn.encoder_encode, "x264_encoder_encode"},
		{(void **)&cn.encoder_close, "x264_encoder_close"},
		{(void **)&cn.picture_init, "x264_picture_init"},
	};
	for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
		*syms[i].fn = dlsym(lib, syms[i].sym);
		if (!*syms[i].fn) {
			snprintf(cn_err, sizeof cn_err, "%s has no %s (not X264_BUILD 164)", name, syms[i].sym);
			dlclose(lib);
			return cn_err;
		}
	}
	return NULL;
}

static int cn_default_preset(void *p, const char *preset, const char *tune) { return cn.param_default_preset(p, preset, tune); }
static int cn_apply_profile(void *p, const char *profile) { return cn.param_apply_profile(p, profile); }
static int cn_parse(void *p, const char *name, const char *value) { return cn.param_parse(p, name, value); }
static void *cn_open(void *p) { return cn.encoder_open(p); }
static void cn_close(void *h) { cn.encoder_close(h); }
static void cn_picture_init(void *pic) { cn.picture_init(pic); }

// cn_worker is the thread that calls x264_encoder_encode. A cgo call that lasts a
// frame's encoding (milliseconds) holds its P in the syscall state: the Go runtime's
// monitor then polls every 20 us, retakes the P and hands it to another thread, one or
// more wake-ups per frame that cost more CPU than the wiring of the whole frame path. The
// worker encodes instead while the goroutine waits on the done pipe in the netpoller,
// holding no P. Jobs come as one byte each on the jobs pipe, and each encoded frame is
// one byte on the done pipe: the Go side writes and reads them with raw system calls,
// which, unlike cgo calls and ordinary system calls, do not wake the runtime's monitor
// from its sleep. One job at a time: Encode submits, then waits for the byte.
typedef struct {
	pthread_t  thread;
	int        jobs[2];  // read end: the worker's; write end: Encode's
	int        done[2];  // read end: Encode's (non-blocking); write end: the worker's
	void      *h;        // x264_t
	void      *in, *out;
	cn_nal    *nals;     // the results of the last job, read after its byte
	int        n;
	int        size;
} cn_worker;

enum { cn_job_encode = 1, cn_job_stop = 2 };

static void *cn_work(void *arg) {
	cn_worker *w = arg;
	for (;;) {
		unsigned char job;
		ssize_t got = read(w->jobs[0], &job, 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got != 1 || job != cn_job_encode)
			return NULL;
		w->size = cn.encoder_encode(w->h, &w->nals, &w->n, w->in, w->out);
		unsigned char b = 1;
		while (write(w->done[1], &b, 1) < 0 && errno == EINTR) {
		}
	}
}

static void cn_close_pair(int fds[2]) {
	close(fds[0]);
	close(fds[1]);
}

// cn_worker_start starts a worker for encoder h. NULL and errno when a resource is
// lacking.
static cn_worker *cn_worker_start(void *h, void *in, void *out) {
	cn_worker *w = calloc(1, sizeof *w);
	if (!w) {
		errno = ENOMEM;
		return NULL;
	}
	if (pipe(w->jobs) != 0) {
		free(w);
		return NULL;
	}
	if (pipe(w->done) != 0) {
		int e = errno;
		cn_close_pair(w->jobs);
		free(w);
		errno = e;
		return NULL;
	}
	for (int i = 0; i < 2; i++) {
		fcntl(w->jobs[i], F_SETFD, FD_CLOEXEC);
		fcntl(w->done[i], F_SETFD, FD_CLOEXEC);
	}
	fcntl(w->done[0], F_SETFL, fcntl(w->done[0], F_GETFL) | O_NONBLOCK);
	w->h = h;
	w->in = in;
	w->out = out;
	int rc = pthread_create(&w->thread, NULL, cn_work, w);
	if (rc != 0) {
		cn_close_pair(w->jobs);
		cn_close_pair(w->done);
		free(w);
		errno = rc;
		return NULL;
	}
	return w;
}

// cn_worker_stop ends the worker (idle: its last job's byte was read) and frees it; the
// read end of the done pipe is the caller's to close.
static void cn_worker_stop(cn_worker *w) {
	unsigned char b = cn_job_stop;
	while (write(w->jobs[1], &b, 1) < 0 && errno == EINTR) {
	}
	pthread_join(w->thread, NULL);
	cn_close_pair(w->jobs);
	close(w->done[1]);
	free(w);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/camnode/camnode/internal/rawio"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
)

// Built tells whether this binary can use libx264 (it was built with cgo and without the
// nox264 tag). Whether the library is installed here is Available's business.
const Built = true

// LibraryEnv is the environment variable (not a camnode setting: camnode refuses unknown
// CAMNODE_ variables) that, when set, names the one library to open
// instead (a path, or a name the dynamic loader looks up): for a libx264 of build 164
// installed elsewhere, and for tests that hide the library.
const LibraryEnv = "X264_LIBRARY"

var libraryNames = []string{"libx264.so.164", "libx264.so"}

// Package is the Debian (and Raspberry Pi OS) package that installs the library.
const Package = "libx264-164"

var load = sync.OnceValue(func() error {
	names := libraryNames
	if v := os.Getenv(LibraryEnv); v != "" {
		names = []string{v}
	}
	var reasons []string
	for _, name := range names {
		cname := C.CString(name)
		msg := C.cn_load(cname)
		C.free(unsafe.Pointer(cname))
		if msg == nil {
			loaded = name
			return nil
		}
		reasons = append(reasons, C.GoString(msg))
	}
	return fmt.Errorf("x264: %w: the H.264 encoder needs libx264 (X264_BUILD 164): apt install %s (%s)",
		encoder.ErrNotInstalled, Package, strings.Join(reasons, "; "))
})

var loaded string // the library name that opened, once load succeeded

// Available opens libx264 on first use and tells whether it can encode here: nil, or an
// error wrapping encoder.ErrNotInstalled that names the package to install.
func Available() error { return load() }

// Version describes the library in use ("libx264.so.164 (build 164)"), or "" when
// Available fails.
func Version() string {
	if load() != nil {
		return ""
	}
	return loaded + " (build 164)"
}

// Encoder is one libx264 encoder. It implements encoder.Encoder; use it from one
// goroutine at a time.
type Encoder struct {
	opts   encoder.Options
	h      unsafe.Pointer // x264_t
	picIn  *C.cn_picture  // C memory of cn_picture_size: it holds pointers to pinned Go planes
	picOut *C.cn_picture  // right after picIn
	pts    int64
	// times maps a picture's pts to its frame's capture time, for the pictures x264 still
	// holds (none with zerolatency; at most the lookahead otherwise).
	times [512]time.Duration
	au    media.AccessUnit
	buf   []byte // the NAL units of the current access unit, reused
	// worker calls libx264 on a thread of its own; done has a byte for each frame it
	// finished.
	worker   *C.cn_worker
	done     *os.File
	doneRd   *rawio.Reader // raw reads of done (package rawio)
	doneByte [1]byte
}

var _ encoder.Encoder = (*Encoder)(nil)

// New opens an encoder with opts (zero fields take encoder defaults). B-frames are off:
// a live stream wants the lowest latency, and access units then come out in display
// order with a zero composition offset. The GOP is fixed (no scene-cut IDRs) so
// keyframes come where the settings and Encode's forceKeyframe say; SPS and PPS precede
// every IDR. The stream is flagged BT.709, limited range. Without libx264 installed the
// error wraps encoder.ErrNotInstalled and names the package.
func New(opts encoder.Options) (*Encoder, error) {
	opts, err := opts.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("x264: %w", err)
	}
	if err := load(); err != nil {
		return nil, err
	}
	p := C.calloc(1, C.cn_param_size)
	defer C.free(p)
	preset, tune := C.CString(opts.Preset), C.CString(opts.Tune)
	defer C.free(unsafe.Pointer(preset))
	defer C.free(unsafe.Pointer(tune))
	if C.cn_default_preset(p, preset, tune) < 0 {
		return nil, fmt.Errorf("x264: unknown preset %q or tune %q (presets: ultrafast superfast veryfast faster fast medium slow slower veryslow placebo; tunes: film animation grain stillimage psnr ssim fastdecode zerolatency)", opts.Preset, opts.Tune)
	}
	head := (*C.cn_param)(p)
	head.i_csp = C.cn_csp_i420
	head.i_width, head.i_height = C.int(opts.Width), C.int(opts.Height)
	num, den := encoder.FrameRate(opts.FPS)
	kbit := strconv.Itoa((opts.Bitrate + 500) / 1000)
	// x264_param_parse sets the rest by name: the names and values are those of the x264
	// command line, stable across builds, where field offsets are not.
	for _, kv := range [][2]string{
		{"log", "0"}, // X264_LOG_ERROR
		{"fps", fmt.Sprintf("%d/%d", num, den)},
		{"force-cfr", "1"}, // rate control by fps (pts count frames); the SPS states it
		{"bframes", "0"},
		{"keyint", strconv.Itoa(opts.GOP)},
		{"min-keyint", strconv.Itoa(opts.GOP)},
		{"scenecut", "0"},
		{"repeat-headers", "1"},
		{"annexb", "0"}, // each payload starts with a 4-byte length instead of a start code
		{"aud", "0"},
		{"bitrate", kbit}, // ABR
		{"vbv-maxrate", kbit},
		{"vbv-bufsize", kbit}, // one second: smooth enough for RTMP ingest buffers
		{"fullrange", "off"},  // limited range
		{"colorprim", "bt709"},
		{"transfer", "bt709"},
		{"colormatrix", "bt709"},
	} {
		name, value := C.CString(kv[0]), C.CString(kv[1])
		rc := C.cn_parse(p, name, value)
		C.free(unsafe.Pointer(name))
		C.free(unsafe.Pointer(value))
		if rc != 0 {
			return nil, fmt.Errorf("x264: setting %s=%s: libx264 says %d", kv[0], kv[1], int(rc))
		}
	}
	profile := C.CString(opts.Profile)
	defer C.free(unsafe.Pointer(profile))
	if C.cn_apply_profile(p, profile) < 0 {
		return nil, fmt.Errorf("x264: unknown profile %q (want baseline, main or high)", opts.Profile)
	}
	h := C.cn_open(p)
	if h == nil {
		return nil, fmt.Errorf("x264: cannot open an encoder for %dx%d@%v %d bit/s GOP %d preset %s tune %s profile %s",
			opts.Width, opts.Height, opts.FPS, opts.Bitrate, opts.GOP, opts.Preset, opts.Tune, opts.Profile)
	}
	e := &Encoder{opts: opts, h: h}
	pics := C.calloc(2, C.cn_picture_size)
	e.picIn = (*C.cn_picture)(pics)
	e.picOut = (*C.cn_picture)(unsafe.Add(pics, C.cn_picture_size))
	w, err := C.cn_worker_start(h, unsafe.Pointer(e.picIn), unsafe.Pointer(e.picOut))
	if w == nil {
		C.cn_close(h)
		C.free(pics)
		return nil, fmt.Errorf("x264: start the encoding thread: %w", err)
	}
	e.worker, e.done = w, os.NewFile(uintptr(w.done[0]), "x264 done")
	rc, err := e.done.SyscallConn()
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("x264: the encoding thread's pipe: %w", err)
	}
	e.doneRd = rawio.NewReader(rc)
	return e, nil
}

// Options returns the settings in force, defaults filled in.
func (e *Encoder) Options() encoder.Options { return e.opts }

// Encode codes one I420 or NV12 frame of the size the encoder was opened for.
func (e *Encoder) Encode(f *media.Frame, forceKeyframe bool, emit func(*media.AccessUnit) error) error {
	if e.h == nil {
		return errors.New("x264: encode after Close")
	}
	if err := encoder.CheckFrame(f, e.opts.Width, e.opts.Height); err != nil {
		return fmt.Errorf("x264: %w", err)
	}
	pic := e.picIn
	C.cn_picture_init(unsafe.Pointer(pic))
	nplanes := 3
	pic.img.i_csp = C.cn_csp_i420
	if f.Format == media.PixelNV12 {
		nplanes = 2
		pic.img.i_csp = C.cn_csp_nv12
	}
	pic.img.i_plane = C.int(nplanes)
	// x264 copies the picture into its own frame during the call and keeps no pointer to
	// it, so pinning for the call is enough to let C memory hold the Go plane pointers.
	var pin runtime.Pinner
	defer pin.Unpin()
	for i := 0; i < nplanes; i++ {
		p := &f.Planes[i][0]
		pin.Pin(p)
		pic.img.plane[i] = (*C.uint8_t)(unsafe.Pointer(p))
		pic.img.i_stride[i] = C.int(f.Strides[i])
	}
	if forceKeyframe {
		pic.i_type = C.cn_type_idr
	}
	pic.i_pts = C.int64_t(e.pts)
	e.times[e.pts%int64(len(e.times))] = f.Time
	e.pts++

	if err := e.encodeOnWorker(); err != nil {
		// The pipes are the encoder's own: this cannot happen while it is open.
		return fmt.Errorf("x264: frame %d: %w", e.pts-1, err)
	}
	nals, n, size := e.worker.nals, e.worker.n, e.worker.size
	for i := range nplanes {
		pic.img.plane[i] = nil
	}
	if size < 0 {
		return fmt.Errorf("x264: encoding frame %d failed", e.pts-1)
	}
	if size == 0 || n == 0 {
		return nil // held back by the lookahead of a non-live tuning
	}
	return emit(e.accessUnit(unsafe.Slice(nals, int(n)), e.picOut))
}

// encodeOnWorker has the worker encode picIn into picOut and waits for it, parked in the
// netpoller. Both pipe operations are raw system calls (see cn_worker): the write of one
// byte to the jobs pipe cannot block (the worker has read every byte before), and the
// done pipe is non-blocking.
func (e *Encoder) encodeOnWorker() error {
	job := byte(C.cn_job_encode)
	if _, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(e.worker.jobs[1]), uintptr(unsafe.Pointer(&job)), 1); errno != 0 {
		return fmt.Errorf("submitting to the encoding thread: %w", errno)
	}
	if _, err := e.doneRd.Read(e.doneByte[:]); err != nil {
		if err == io.EOF {
			err = errors.New("the done pipe closed")
		}
		return fmt.Errorf("waiting for the encoding thread: %w", err)
	}
	return nil
}

// accessUnit copies the NAL units x264 returned (each payload a 4-byte length, then the
// NAL unit) into the reused buffer, without their length prefixes.
func (e *Encoder) accessUnit(nals []C.cn_nal, out *C.cn_picture) *media.AccessUnit {
	total := 0
	for _, nal := range nals {
		total += int(nal.i_payload)
	}
	e.buf = e.buf[:0]
	if cap(e.buf) < total {
		e.buf = make([]byte, 0, total+total/4)
	}
	e.au.NALUs = e.au.NALUs[:0]
	for _, nal := range nals {
		payload := unsafe.Slice((*byte)(unsafe.Pointer(nal.p_payload)), int(nal.i_payload))
		if len(payload) <= 4 {
			continue
		}
		start := len(e.buf)
		e.buf = append(e.buf, payload[4:]...)
		e.au.NALUs = append(e.au.NALUs, e.buf[start:len(e.buf):len(e.buf)])
	}
	e.au.Time = e.times[int64(out.i_pts)%int64(len(e.times))]
	e.au.CompositionOffset = 0
	e.au.Keyframe = out.b_keyframe != 0
	return &e.au
}

// Close frees the encoder. It is safe to call more than once.
func (e *Encoder) Close() error {
	if e.h != nil {
		C.cn_worker_stop(e.worker)
		e.done.Close()
		e.worker, e.done = nil, nil
		C.cn_close(e.h)
		e.h = nil
		C.free(unsafe.Pointer(e.picIn))
		e.picIn, e.picOut = nil, nil
	}
	return nil
}
