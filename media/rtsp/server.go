// Package rtsp serves the live stream to RTSP players (VLC, ffmpeg, GStreamer, Home
// Assistant, Frigate) at rtsp://HOST:PORT/live, over TCP (interleaved) and UDP, with
// gortsplib doing the RTSP and RTP.
package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/httpflv"
)

// Options configure a Server. The zero value of each number takes its default.
type Options struct {
	// Addr is host:port of the RTSP (TCP) listener (CAMNODE_RTSP), e.g. ":8554". A host
	// that is not loopback (an address of the machine, 0.0.0.0, or none) needs Username
	// and Password.
	Addr string
	// UDPPort is the RTP port of the UDP transport, even; RTCP takes the next one. Zero
	// takes the even pair after the RTSP port (8554: 8556 and 8557), or any free pair when
	// the RTSP port is 0; negative serves TCP only.
	UDPPort int
	// Username and Password, when set, must come with every reader's request (HTTP Basic
	// or Digest, as RTSP players send them). The password never appears in logs or errors.
	Username, Password string
	// MaxReaders bounds the players served at once (default 16); one more is refused
	// (503) and the ones playing keep playing.
	MaxReaders int
	// ReaderQueue bounds the RTP packets queued for one reader (default 512, about 2 s
	// of a 3 Mbit/s stream; rounded up to a power of two). A reader that falls further
	// behind is dropped (Stats().Cut) and nothing else waits for it. Each queued packet
	// holds up to 1472 bytes: 16 readers with full queues hold 12 MB at most.
	ReaderQueue int
	// AudioWait is how far into the stream (video time) the description waits for the
	// first audio frame before it describes the video alone (default 2 s); negative
	// describes the video at once, for a node without audio. Players that ask meanwhile
	// wait for the answer. Audio that comes later makes a new description.
	AudioWait time.Duration
	Logger    *slog.Logger
}

// String shows the options with the password hidden, so that logging or printing them
// never shows it.
func (o Options) String() string {
	if o.Password != "" {
		o.Password = "REDACTED"
	}
	type plain Options // without this method
	return fmt.Sprintf("%+v", plain(o))
}

// GoString is String, for %#v.
func (o Options) GoString() string { return o.String() }

// LogValue is String, for log/slog.
func (o Options) LogValue() slog.Value { return slog.StringValue(o.String()) }

// Defaults of Options.
const (
	DefaultMaxReaders  = 16
	DefaultReaderQueue = 512
	DefaultAudioWait   = 2 * time.Second
)

// Path is where the live stream is served: rtsp://HOST:PORT/live.
const Path = "/live"

// ErrCredentialsRequired is returned by Listen for an address beyond loopback without a
// username and password.
var ErrCredentialsRequired = errors.New("rtsp: listening beyond loopback needs a username and password (CAMNODE_RTSP_USERNAME, CAMNODE_RTSP_PASSWORD)")

// Server is the RTSP server and the output of the live stream it serves: it implements
// media.Output for the stream that runs now (Run spans one stream; players that ask
// between streams are told there is none). Listen binds it; Serve serves it for the
// node's life.
type Server struct {
	opts    Options
	log     *slog.Logger
	ln      net.Listener
	udp     [2]net.PacketConn // RTP, RTCP; nil without UDP
	rtsp    *gortsplib.Server
	serving sync.Once

	output
}

var _ media.Output = (*Server)(nil)

// Listen checks opts and binds the RTSP listener and the UDP ports, so that the addresses
// are known (and taken) before the stream starts. Serve serves them.
func Listen(opts Options) (*Server, error) {
	host, portText, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("rtsp: listen address %q: %w", opts.Addr, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("rtsp: listen address %q: port %q is not a number from 0 to 65535", opts.Addr, portText)
	}
	if (opts.Username == "") != (opts.Password == "") {
		return nil, errors.New("rtsp: a username needs a password and a password a username")
	}
	if opts.Username == "" && !httpflv.Loopback(host) {
		return nil, fmt.Errorf("%w: %s", ErrCredentialsRequired, opts.Addr)
	}
	if opts.UDPPort > 0 && (opts.UDPPort%2 != 0 || opts.UDPPort > 65534) {
		return nil, fmt.Errorf("rtsp: UDP port %d: the RTP port must be even, from 2 to 65534 (RTCP takes the next)", opts.UDPPort)
	}
	if opts.MaxReaders <= 0 {
		opts.MaxReaders = DefaultMaxReaders
	}
	if opts.ReaderQueue <= 0 {
		opts.ReaderQueue = DefaultReaderQueue
	}
	opts.ReaderQueue = powerOfTwo(opts.ReaderQueue)
	if opts.AudioWait == 0 {
		opts.AudioWait = DefaultAudioWait
	}
	opts.AudioWait = max(opts.AudioWait, 0)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}

	s := &Server{opts: opts, log: opts.Logger}
	if s.ln, err = net.Listen("tcp", opts.Addr); err != nil {
		return nil, fmt.Errorf("rtsp: %w", err)
	}
	if opts.UDPPort >= 0 {
		rtp := opts.UDPPort
		if rtp == 0 && port != 0 {
			rtp = int(port+2) &^ 1
		}
		if s.udp, err = listenUDPPair(host, rtp); err != nil {
			s.ln.Close()
			return nil, fmt.Errorf("rtsp: UDP transport: %w", err)
		}
	}
	s.output.init(s)
	s.rtsp = &gortsplib.Server{
		Handler:        (*handler)(s),
		RTSPAddress:    s.ln.Addr().String(),
		WriteQueueSize: opts.ReaderQueue,
		// The bound sockets are handed over: gortsplib asks for them by address.
		Listen: func(string, string) (net.Listener, error) { return readerConns{s.ln}, nil },
	}
	if s.udp[0] != nil {
		s.rtsp.UDPRTPAddress = s.udp[0].LocalAddr().String()
		s.rtsp.UDPRTCPAddress = s.udp[1].LocalAddr().String()
		s.rtsp.ListenPacket = func(_, addr string) (net.PacketConn, error) {
			for _, c := range s.udp {
				if c.LocalAddr().String() == addr {
					return c, nil
				}
			}
			return nil, fmt.Errorf("rtsp: no UDP socket bound at %s", addr)
		}
	}
	return s, nil
}

// listenUDPPair binds the RTP port rtp (even) and RTCP at rtp+1 on host; rtp 0 picks a
// free pair.
func listenUDPPair(host string, rtp int) ([2]net.PacketConn, error) {
	var pair [2]net.PacketConn
	for range 100 {
		c, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(rtp)))
		if err != nil {
			return pair, err
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		if p%2 != 0 {
			c.Close() // rtp was 0 and the system gave an odd port: ask again
			continue
		}
		c2, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(p+1)))
		if err != nil {
			c.Close()
			if rtp == 0 {
				continue
			}
			return pair, err
		}
		return [2]net.PacketConn{c, c2}, nil
	}
	return pair, errors.New("no free pair of ports (even, odd) found")
}

// sendBuffer is the kernel's send buffer of a reader's TCP connection: set, it stops
// growing to megabytes (Linux's autotuning) in front of a reader that stopped reading, so
// that ReaderQueue is what bounds it. 256 KiB still covers a LAN's or a Wi-Fi's
// bandwidth-delay product at camera bitrates.
const sendBuffer = 256 << 10

// readerConns sets sendBuffer on every connection it accepts, and hands it to gortsplib
// as a unitConn.
type readerConns struct{ net.Listener }

func (l readerConns) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(sendBuffer)
	}
	return &unitConn{Conn: c}, nil
}

// unitMax bounds the bytes a unitConn holds: a larger burst (a keyframe) goes out in
// writes of about this size.
const unitMax = 32 << 10

// unitConn is a reader's TCP connection that writes each burst of RTP packets the output
// queues for the reader (a picture and the audio that waited for it) in one write, where
// gortsplib writes every interleaved packet on its own, one system call each: on a
// camera's stream most of what a reader costs. The output names the burst's last packet
// (endWith) before it queues the burst; the connection keeps the RTP packets it is given
// until that one, and writes them with it. Any other write (an RTCP packet, a response)
// takes what is kept along, in order. So nothing is kept longer than its burst takes to
// be queued: the rest of the burst is in gortsplib's queue already, behind it. A burst
// whose last packet never comes (the session's queue was closed meanwhile) goes with the
// next burst's, or with unitMax.
//
// gortsplib writes packets from the session's writer and responses from the connection's
// goroutine: mu keeps each write whole. The write deadline gortsplib sets before each
// write holds for the write that takes the kept bytes along. last is apart from mu: the
// output names a burst without waiting for a write (one to a reader that stopped reading
// waits for its deadline).
type unitConn struct {
	net.Conn
	last atomic.Uint32 // the burst's last packet, as packetID makes it; 0: none

	mu   sync.Mutex
	held []byte
	err  error // a failed write's: the connection is broken
}

// packetID names an RTP packet of a reader by its payload type (one per track) and its
// sequence number; never 0.
func packetID(pt uint8, seq uint16) uint32 { return 1<<24 | uint32(pt&0x7f)<<16 | uint32(seq) }

// endWith names the last packet of the burst that is about to be queued.
func (c *unitConn) endWith(p *rtp.Packet) { c.last.Store(packetID(p.PayloadType, p.SequenceNumber)) }

func (c *unitConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	id, isRTP := rtpPacket(p)
	last := c.last.Load()
	keep := isRTP && last != 0 && id != last
	if len(c.held) == 0 && !keep {
		return c.write(p)
	}
	if len(c.held)+len(p) > unitMax {
		if _, err := c.write(c.held); err != nil {
			return 0, err
		}
	}
	if c.held == nil {
		c.held = make([]byte, 0, unitMax) // never grown: the check above keeps it within
	}
	c.held = append(c.held, p...)
	if keep {
		return len(p), nil
	}
	if _, err := c.write(c.held); err != nil {
		return 0, err
	}
	return len(p), nil
}

// write writes b and empties held. c.mu is held.
func (c *unitConn) write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.held = c.held[:0]
	if err != nil {
		c.err = err
	}
	return n, err
}

// rtpPacket tells whether p is an interleaved RTP packet ('$', channel, length, then the
// packet: version 2, a payload type that is not one of RTCP's 200 to 204), and names it.
func rtpPacket(p []byte) (uint32, bool) {
	if len(p) < 4+12 || p[0] != '$' || int(p[2])<<8|int(p[3]) != len(p)-4 || p[4]>>6 != 2 {
		return 0, false
	}
	if p[5] >= 200 && p[5] <= 204 { // RTCP: its type is where RTP has the marker and the payload type
		return 0, false
	}
	return packetID(p[5], uint16(p[6])<<8|uint16(p[7])), true
}

func powerOfTwo(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// Addr is the address the RTSP listener is bound to, e.g. 127.0.0.1:8554.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// UDPPorts are the RTP and RTCP ports of the UDP transport; zero without it.
func (s *Server) UDPPorts() (rtp, rtcp int) {
	if s.udp[0] == nil {
		return 0, 0
	}
	return s.udp[0].LocalAddr().(*net.UDPAddr).Port, s.udp[1].LocalAddr().(*net.UDPAddr).Port
}

// URL is the stream's address (without credentials): rtsp://host:port/live, with the
// listener's host (an unspecified one, [::] or 0.0.0.0, as it is: players need the
// machine's name or address there).
func (s *Server) URL() string { return "rtsp://" + s.ln.Addr().String() + Path }

// Serve serves players until ctx ends, then ends every session and returns when every
// goroutine it (and gortsplib) started has ended: nil, or the error that stopped the
// listener. Call it once. Listen's sockets are released by Serve only: a Server that will
// not serve is released by Serve with a context already done.
func (s *Server) Serve(ctx context.Context) error {
	err := errors.New("rtsp: Serve called twice")
	s.serving.Do(func() { err = s.serve(ctx) })
	return err
}

func (s *Server) serve(ctx context.Context) error {
	if err := s.rtsp.Start(); err != nil {
		s.ln.Close()
		for _, c := range s.udp {
			if c != nil {
				c.Close()
			}
		}
		return fmt.Errorf("rtsp: %w", err)
	}
	close(s.output.started)
	stopped := make(chan error, 1)
	go func() { stopped <- s.rtsp.Wait() }()
	var err error
	select {
	case err = <-stopped:
		err = fmt.Errorf("rtsp: serve %s: %w", s.ln.Addr(), err)
	case <-ctx.Done():
		s.output.close()
		s.rtsp.Close()
		<-stopped
	}
	return err
}

// handler is the Server as gortsplib's handler: its methods are called from gortsplib's
// connection and session goroutines.
type handler Server

func (h *handler) OnConnOpen(c *gortsplib.ServerHandlerOnConnOpenCtx) {
	h.log.Debug("rtsp: connection", "remote", c.Conn.NetConn().RemoteAddr())
}

func (h *handler) OnConnClose(c *gortsplib.ServerHandlerOnConnCloseCtx) {
	h.log.Debug("rtsp: connection closed", "remote", c.Conn.NetConn().RemoteAddr(), "err", c.Error)
}

func (h *handler) OnSessionClose(c *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.output.leave(c.Session, c.Error)
}

// authorize checks the reader's credentials, when the server has them. A request without
// any gets a 401 with the challenge; one with wrong ones gets a 401 and its connection
// is closed (gortsplib does both on liberrors.ErrServerAuth).
func (h *handler) authorize(c *gortsplib.ServerConn, req *base.Request) (*base.Response, error) {
	if h.opts.Username == "" || c.VerifyCredentials(req, h.opts.Username, h.opts.Password) {
		return nil, nil
	}
	if _, ok := req.Header["Authorization"]; ok {
		h.log.Warn("rtsp: reader refused: wrong username or password", "remote", c.NetConn().RemoteAddr())
	}
	return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
}

func (h *handler) OnDescribe(c *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := h.authorize(c.Conn, c.Request); res != nil {
		return res, nil, err
	}
	if strings.TrimSuffix(c.Path, "/") != Path {
		return notFound("Not Found (camnode serves " + Path + ")"), nil, nil
	}
	st := h.output.described(h.opts.AudioWait + 5*time.Second)
	if st == nil {
		return notFound("Not Found (no live stream now: camnode is not streaming)"), nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

func notFound(reason string) *base.Response {
	return &base.Response{StatusCode: base.StatusNotFound, StatusMessage: reason}
}

func (h *handler) OnSetup(c *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := h.authorize(c.Conn, c.Request); res != nil {
		return res, nil, err
	}
	if strings.TrimSuffix(c.Path, "/") != Path {
		return notFound("Not Found (camnode serves " + Path + ")"), nil, nil
	}
	if c.Session.State() != gortsplib.ServerSessionStateInitial && c.Session.State() != gortsplib.ServerSessionStatePrePlay {
		return &base.Response{StatusCode: base.StatusBadRequest}, nil, nil
	}
	st, status := h.output.join(c.Session, c.Conn.NetConn().RemoteAddr().String())
	switch status {
	case joinNoStream:
		return notFound("Not Found (no live stream now: camnode is not streaming)"), nil, nil
	case joinFull:
		h.log.Warn("rtsp: reader refused: the server serves its maximum of readers", "remote", c.Conn.NetConn().RemoteAddr(), "max", h.opts.MaxReaders)
		return &base.Response{StatusCode: base.StatusServiceUnavailable,
			StatusMessage: fmt.Sprintf("Service Unavailable (camnode serves at most %d readers)", h.opts.MaxReaders)}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

func (h *handler) OnPlay(c *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	if !h.output.play(c.Session, c.Conn) {
		// The stream it was set up for has ended.
		return notFound("Not Found (the stream ended)"), nil
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *handler) OnPause(c *gortsplib.ServerHandlerOnPauseCtx) (*base.Response, error) {
	h.output.pause(c.Session)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnPacketsLost and OnDecodeError stand in for gortsplib's default, log.Printf; a reader
// sends nothing but RTCP receiver reports.
func (h *handler) OnPacketsLost(*gortsplib.ServerHandlerOnPacketsLostCtx) {}

func (h *handler) OnDecodeError(c *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	h.log.Debug("rtsp: undecodable packet from a reader", "err", c.Error)
}

func (h *handler) OnStreamWriteError(c *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	h.log.Debug("rtsp: write to a reader", "err", c.Error)
}
