package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/httpflv"
	"github.com/camnode/camnode/media/onvif"
	"github.com/camnode/camnode/media/rtsp"
)

// LocalOptions are what the node's settings ask of its local outputs, those that serve
// viewers on the node itself: the player, HTTP-FLV and the snapshot JPEG (CAMNODE_HTTP),
// and ONVIF on the same listener (CAMNODE_ONVIF).
type LocalOptions struct {
	HTTP, HTTPToken string
	// ChatBurntIn tells the player whether chat is drawn into the picture (burn) beside
	// the SEI it reads: it then draws none itself. Nil: never.
	ChatBurntIn func() bool
	// RTSP is host:port of the RTSP server (CAMNODE_RTSP); RTSPUsername and RTSPPassword
	// are the credentials of RTSP, ONVIF and the snapshot JPEG, empty on loopback.
	RTSP, RTSPUsername, RTSPPassword string
	ONVIF                            bool
	// NodeID and Version name the device to ONVIF clients (serial number, firmware).
	NodeID, Version string
	// What the settings ask of the stream: ONVIF's profile says it until a stream shows
	// what it is. FrameRate and BitrateKbps are also announced by the player where the
	// stream does not say them.
	Width, Height int
	FrameRate     float64
	BitrateKbps   float64
	GOP           int    // frames
	Profile       string // H.264 profile asked of the encoder
	AudioRate     int    // 0: no audio
	// DiscoveryPort is WS-Discovery's UDP port: 0 for 3702 (tests use another).
	DiscoveryPort int
	// Snapshot is the running stream's next picture as a JPEG (/snapshot.jpg), an error
	// while it is off.
	Snapshot func(ctx context.Context) ([]byte, error)
	Logger   *slog.Logger
}

// SettingError is a local output that cannot work with the node's settings: Var names the
// variable to change (CAMNODE_HTTP, …). Err holds no secret.
type SettingError struct {
	Var string
	Err error
}

func (e *SettingError) Error() string { return fmt.Sprintf("%s: %v", e.Var, e.Err) }
func (e *SettingError) Unwrap() error { return e.Err }

// Local are the local outputs for the node's whole life: bound by ListenLocal (so a port
// that is taken is found at start), served by Serve, and one output each of every stream
// (Outputs).
//
// Adding a local output is one package that implements media.Output, plus its lines here.
type Local struct {
	log       *slog.Logger
	player    *httpflv.Server  // nil without CAMNODE_HTTP
	rtsp      *rtsp.Server     // nil without CAMNODE_RTSP
	discovery *onvif.Discovery // nil without CAMNODE_ONVIF, or when it could not bind
	format    streamFormat     // what the stream is, for ONVIF
	outs      []media.Output
}

// ListenLocal binds every local output the options ask for. A setting that cannot work
// (a port that is taken, a listener beyond loopback without its credentials) is a
// *SettingError naming the variable.
func ListenLocal(o LocalOptions) (*Local, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Local{log: o.Logger}
	if o.RTSP != "" {
		audioWait := time.Duration(0)
		if o.AudioRate == 0 {
			audioWait = -1 // no audio track: describe the video at once
		}
		srv, err := rtsp.Listen(rtsp.Options{Addr: o.RTSP, Username: o.RTSPUsername, Password: o.RTSPPassword,
			AudioWait: audioWait, Logger: o.Logger})
		if err != nil {
			v := "CAMNODE_RTSP"
			if errors.Is(err, rtsp.ErrCredentialsRequired) {
				v = "CAMNODE_RTSP_USERNAME"
			}
			return nil, &SettingError{Var: v, Err: err}
		}
		l.rtsp = srv
		l.outs = append(l.outs, srv)
	}
	if o.HTTP != "" {
		// ONVIF's services and the snapshot JPEG share the player's listener; they take the
		// RTSP credentials as ONVIF clients send them (and the JPEG the token too).
		svc := onvif.New(onvif.Options{
			Device:   onvifDevice(o),
			Username: o.RTSPUsername, Password: o.RTSPPassword,
			Media:       func() (onvif.Video, *onvif.Audio) { return l.format.describe(o) },
			StreamURI:   func(host string) string { return urlFor("rtsp", host, portOf(o.RTSP), rtsp.Path) },
			SnapshotURI: func(host string) string { return urlFor("http", host, portOf(o.HTTP), "/snapshot.jpg") },
			Logger:      o.Logger,
		})
		mount := map[string]http.Handler{"GET /snapshot.jpg": l.snapshotHandler(o, svc)}
		if o.ONVIF {
			onvifMux := http.NewServeMux()
			svc.Register(onvifMux)
			mount["/onvif/"] = onvifMux
		}
		srv, err := httpflv.Listen(httpflv.Options{Addr: o.HTTP, Token: o.HTTPToken, FrameRate: o.FrameRate,
			BitrateKbps: o.BitrateKbps, ChatBurntIn: o.ChatBurntIn, Mount: mount, Logger: o.Logger})
		if err != nil {
			v := "CAMNODE_HTTP"
			if errors.Is(err, httpflv.ErrTokenRequired) {
				v = "CAMNODE_HTTP_TOKEN"
			}
			l.release()
			return nil, &SettingError{Var: v, Err: err}
		}
		l.player = srv
		l.outs = append(l.outs, srv)
	}
	if o.ONVIF && l.player != nil {
		l.listenDiscovery(o)
	}
	if len(l.outs) > 0 {
		l.outs = append(l.outs, &l.format)
	}
	return l, nil
}

// listenDiscovery binds WS-Discovery on the interfaces of the HTTP listener. One that
// cannot bind is logged, not fatal: ONVIF clients can still add the camera by address.
func (l *Local) listenDiscovery(o LocalOptions) {
	ta, _ := l.player.Addr().(*net.TCPAddr)
	var addrs []net.IP
	if ta != nil {
		addrs = []net.IP{ta.IP}
	}
	d, err := onvif.NewDiscovery(onvif.DiscoveryOptions{Device: onvifDevice(o), Addrs: addrs, Port: o.DiscoveryPort,
		XAddrs: func(local net.IP) []string {
			return []string{urlFor("http", local.String(), portOf(l.player.Addr().String()), onvif.DevicePath)}
		},
		Logger: o.Logger})
	if err != nil {
		l.log.Warn("onvif: no WS-Discovery: Home Assistant can still add the camera by its address", "err", err)
		return
	}
	l.discovery = d
}

// portOf is the port of host:port ("" when it has none).
func portOf(hostport string) string {
	_, port, _ := net.SplitHostPort(hostport)
	return port
}

// Outputs are the local outputs, for Options.Local of every stream. The methods of Local
// take a nil Local for one without outputs.
func (l *Local) Outputs() []media.Output {
	if l == nil {
		return nil
	}
	return l.outs
}

// Any reports whether there is a local output: a stream can then run without an ingest
// (a preview).
func (l *Local) Any() bool { return len(l.Outputs()) > 0 }

// PlayerURL is the player page's address (never with its token); "" without one.
func (l *Local) PlayerURL() string {
	if l == nil || l.player == nil {
		return ""
	}
	return l.player.URL()
}

// release frees what ListenLocal bound when it fails half-way: a server that will not
// serve is released by serving it with a context already done.
func (l *Local) release() {
	if l.rtsp != nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		l.rtsp.Serve(ctx)
	}
}

// RTSPURL is the stream's RTSP address for a viewer on the network (never with its
// credentials): the listener's address, or this machine's first non-loopback address for
// one that listens on every interface; "" without CAMNODE_RTSP.
func (l *Local) RTSPURL() string {
	if l == nil || l.rtsp == nil {
		return ""
	}
	ta, ok := l.rtsp.Addr().(*net.TCPAddr)
	if !ok {
		return l.rtsp.URL()
	}
	ip := ta.IP
	if ip.IsUnspecified() {
		if ip = HostAddress(); ip == nil {
			ip = net.IPv4(127, 0, 0, 1)
		}
	}
	return "rtsp://" + net.JoinHostPort(ip.String(), strconv.Itoa(ta.Port)) + rtsp.Path
}

// Describe names the local outputs for a person: "the player at http://127.0.0.1:8080/".
func (l *Local) Describe() string {
	var parts []string
	if p := l.PlayerURL(); p != "" {
		parts = append(parts, "the player at "+p)
	}
	if u := l.RTSPURL(); u != "" {
		parts = append(parts, "RTSP at "+u)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// PlayerAddr is the address the player listens on; nil without one.
func (l *Local) PlayerAddr() net.Addr {
	if l == nil || l.player == nil {
		return nil
	}
	return l.player.Addr()
}

// Serve serves every local output until ctx ends, and returns when all have stopped. A
// server that fails is logged; the others go on. A nil Local has nothing to serve.
func (l *Local) Serve(ctx context.Context) {
	if l == nil {
		return
	}
	var wg sync.WaitGroup
	if l.player != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.player.Serve(ctx); err != nil {
				l.log.Error("local player", "err", err)
			}
		}()
		l.log.Info("local player", "url", l.player.URL())
	}
	if l.rtsp != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.rtsp.Serve(ctx); err != nil {
				l.log.Error("rtsp", "err", err)
			}
		}()
		l.log.Info("rtsp", "url", l.RTSPURL())
	}
	if l.discovery != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.discovery.Run(ctx); err != nil {
				l.log.Warn("onvif: WS-Discovery stopped", "err", err)
			}
		}()
	}
	wg.Wait()
}

// HostAddress is this machine's first global unicast address on an interface that is up,
// IPv4 first; nil when it has none.
func HostAddress() net.IP {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var v6 net.IP
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || !ipn.IP.IsGlobalUnicast() {
				continue
			}
			if ipn.IP.To4() != nil {
				return ipn.IP
			}
			if v6 == nil {
				v6 = ipn.IP
			}
		}
	}
	return v6
}
