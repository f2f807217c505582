package pipeline

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/onvif"
)

// streamFormat is an output that remembers what the stream is (its SPS and its AAC
// configuration), for what the local outputs say of it (ONVIF's profile).
type streamFormat struct {
	media.NopOutput
	mu    sync.Mutex
	video *h264.SPS
	audio *media.AudioConfig
}

func (f *streamFormat) WriteVideo(_ context.Context, _ *media.AccessUnit, ps *h264.ParameterSets) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.video == nil || *f.video != ps.Info {
		info := ps.Info
		f.video = &info
	}
	return nil
}

func (f *streamFormat) WriteAudio(_ context.Context, a *media.AudioFrame) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.audio == nil || f.audio.SampleRate != a.Config.SampleRate || f.audio.Channels != a.Config.Channels {
		f.audio = &media.AudioConfig{SampleRate: a.Config.SampleRate, Channels: a.Config.Channels}
	}
	return nil
}

// describe is the stream as ONVIF's profile says it: what the last stream was, else what
// the settings ask for.
func (f *streamFormat) describe(o LocalOptions) (onvif.Video, *onvif.Audio) {
	v := onvif.Video{Width: o.Width, Height: o.Height, FPS: o.FrameRate, BitrateKbps: int(o.BitrateKbps),
		GOVLength: o.GOP, Profile: o.Profile}
	var a *onvif.Audio
	if o.AudioRate > 0 {
		a = &onvif.Audio{SampleRate: o.AudioRate, Channels: 1, BitrateKbps: 128}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.video; s != nil {
		v.Width, v.Height = s.Width, s.Height
		if r := s.FrameRate(); r > 0 && r <= 1000 {
			v.FPS = r
		}
		v.Profile = h264ProfileName(s.ProfileIDC, v.Profile)
	}
	if f.audio != nil {
		a = &onvif.Audio{SampleRate: f.audio.SampleRate, Channels: f.audio.Channels, BitrateKbps: 128}
	}
	return v, a
}

// h264ProfileName names profile_idc as ONVIF does; other profiles keep fallback.
func h264ProfileName(idc byte, fallback string) string {
	switch idc {
	case 66:
		return "Baseline"
	case 77:
		return "Main"
	case 88:
		return "Extended"
	case 100:
		return "High"
	}
	return fallback
}

// snapshotHandler serves GET /snapshot.jpg: the next picture of the running stream as a
// JPEG (503 while the stream is off). A request with the player's token passes; any other
// is asked for the RTSP credentials (HTTP Digest or Basic), as ONVIF clients send them.
func (l *Local) snapshotHandler(o LocalOptions, svc *onvif.Service) http.Handler {
	serve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.Snapshot == nil {
			http.Error(w, "camnode: no snapshots on this node", http.StatusNotFound)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), snapshotWait)
		defer cancel()
		b, err := o.Snapshot(ctx)
		if err != nil {
			w.Header().Set("Retry-After", "5")
			status := http.StatusServiceUnavailable
			if errors.Is(err, context.DeadlineExceeded) {
				status = http.StatusGatewayTimeout
			}
			http.Error(w, "camnode: no snapshot: "+err.Error(), status)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "image/jpeg")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
	if o.RTSPUsername == "" {
		// No credentials (loopback): the player's token, when set, guards it.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !l.player.Authorized(r) {
				http.Error(w, "camnode: the snapshot needs the player's token", http.StatusUnauthorized)
				return
			}
			serve(w, r)
		})
	}
	protected := svc.Protect(serve)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.HTTPToken != "" && l.player.Authorized(r) {
			serve(w, r)
			return
		}
		protected.ServeHTTP(w, r)
	})
}

// onvifDevice is what ONVIF says of this node: the MAC of the interface CAMNODE_HTTP
// listens on (Home Assistant keys the camera on it), else one derived from the node id.
func onvifDevice(o LocalOptions) onvif.Device {
	d := onvif.Device{Manufacturer: "camnode", Model: "camnode", Firmware: o.Version, Serial: o.NodeID,
		HardwareID: "camnode", Name: o.NodeID}
	host, _, _ := net.SplitHostPort(o.HTTP)
	if host == "" {
		d.MAC = interfaceMAC(net.IPv4zero)
	} else if ip := net.ParseIP(host); ip != nil {
		d.MAC = interfaceMAC(ip)
	}
	if d.MAC == nil {
		d.MAC = onvif.StableMAC(o.NodeID)
	}
	return d
}

// interfaceMAC is the hardware address of the interface that holds ip (the first
// up interface with one, for an unspecified ip); nil when none has one (loopback).
func interfaceMAC(ip net.IP) net.HardwareAddr {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	for _, ifi := range ifaces {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0 || len(ifi.HardwareAddr) != 6 {
			continue
		}
		if ip.IsUnspecified() {
			return ifi.HardwareAddr
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
				return ifi.HardwareAddr
			}
		}
	}
	return nil
}

// urlFor is scheme://host:port/path for a client that reached the node at reqHost (the
// HTTP request's Host), on port.
func urlFor(scheme, reqHost, port, path string) string {
	host := reqHost
	if h, _, err := net.SplitHostPort(reqHost); err == nil {
		host = h
	}
	return scheme + "://" + net.JoinHostPort(host, port) + path
}
