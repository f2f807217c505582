// Package onvif answers the ONVIF Profile S device and media services (SOAP 1.2 over HTTP)
// and WS-Discovery, the subset Home Assistant's ONVIF integration calls to find a camera,
// name it, and learn its RTSP and JPEG snapshot URLs. It knows nothing of the rest of
// camnode: the caller says what the stream is and where it is served.
package onvif

import (
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Device is what the device service says about the node.
type Device struct {
	Manufacturer, Model, Firmware, Serial, HardwareID, Name string
	// MAC is the hardware address GetNetworkInterfaces reports: Home Assistant keys the
	// camera on it. StableMAC gives one when the caller has no real one.
	MAC net.HardwareAddr
}

// Video is the stream's H.264 video as the media service describes it.
type Video struct {
	Width, Height int
	FPS           float64
	BitrateKbps   int
	GOVLength     int    // frames between keyframes
	Profile       string // H.264 profile: Baseline, Main, Extended or High (empty: Main)
}

// Audio is the stream's AAC audio.
type Audio struct {
	SampleRate, Channels, BitrateKbps int
}

// Options configure a Service.
type Options struct {
	Device Device
	// Username and Password are checked against WS-UsernameToken (PasswordDigest and
	// PasswordText) on SOAP requests and against HTTP Digest or Basic by Protect. Both empty:
	// no authentication.
	Username, Password string
	// Media returns the stream's current configuration; a nil Audio means no audio track.
	Media func() (Video, *Audio)
	// StreamURI returns the RTSP URL for a client that reached the node at host (the HTTP
	// request's Host, which may carry a port), without credentials.
	StreamURI func(host string) string
	// SnapshotURI returns the HTTP JPEG URL for a client that reached the node at host.
	SnapshotURI func(host string) string
	Now         func() time.Time // nil: time.Now
	Logger      *slog.Logger     // nil: discard
}

// Service serves the ONVIF device and media services.
type Service struct {
	opts   Options
	log    *slog.Logger
	nonces *nonceCache // WS-UsernameToken nonces seen recently
	digest *digestAuth // HTTP Digest state for Protect
}

// New returns a Service; it starts no goroutine.
func New(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Media == nil {
		opts.Media = func() (Video, *Audio) { return Video{}, nil }
	}
	if opts.StreamURI == nil {
		opts.StreamURI = func(string) string { return "" }
	}
	if opts.SnapshotURI == nil {
		opts.SnapshotURI = func(string) string { return "" }
	}
	s := &Service{opts: opts, log: log, nonces: newNonceCache(maxNonces)}
	s.digest = newDigestAuth(opts.Username, opts.Password, opts.Now)
	return s
}

// The paths of the services. Media2 is not offered: Home Assistant uses Media (ver10).
const (
	DevicePath = "/onvif/device_service"
	MediaPath  = "/onvif/media_service"
)

// Register mounts the device and media services on mux (POST only).
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle("POST "+DevicePath, http.HandlerFunc(s.serveSOAP))
	mux.Handle("POST "+MediaPath, http.HandlerFunc(s.serveSOAP))
}

// authEnabled reports whether credentials are configured.
func (s *Service) authEnabled() bool { return s.opts.Username != "" || s.opts.Password != "" }

// credentialsEqual compares in constant time (over hashes, so lengths leak nothing either).
func credentialsEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
