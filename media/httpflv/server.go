// Package httpflv serves the stream camnode publishes as HTTP-FLV (GET /live.flv) and the local player page that draws its SEI danmaku over the picture (GET /).
package httpflv

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Server. The zero value of each number takes its default.
type Options struct {
	// Addr is host:port to listen on (CAMNODE_HTTP). A host that is not loopback (an
	// address of the machine, 0.0.0.0, or none) needs Token.
	Addr string
	// Token, when set, must come with every request: `?token=` in the URL or an
	// `Authorization: Bearer` header. It never appears in logs or errors.
	Token string
	// ClientQueue bounds the bytes queued for one browser (default 8 MiB, a few seconds
	// of a camera stream); a client that falls further behind is dropped.
	ClientQueue int
	// MaxClients bounds the browsers served at once (default 8); so memory is bounded by
	// MaxClients x ClientQueue.
	MaxClients int
	// WriteTimeout bounds one write to a browser (default 10 s).
	WriteTimeout time.Duration
	// ChatBurntIn says whether the chat is burnt into the picture beside the SEI (the
	// running stream draws it): the page then leaves the SEI danmaku undrawn. Nil: never.
	ChatBurntIn func() bool
	// MaxConns bounds the connections held at once, MaxConnsPerAddr those from one
	// client address (defaults DefaultMaxConns, DefaultMaxConnsPerAddr); see limitListener.
	MaxConns, MaxConnsPerAddr int
	// HeaderTimeout bounds the wait for a request's headers (default 5 s).
	HeaderTimeout time.Duration
	// FrameRate and BitrateKbps go into onMetaData when the SPS does not state a rate.
	FrameRate   float64
	BitrateKbps float64
	// Mount are more handlers on the same listener, by ServeMux pattern (ONVIF's services,
	// the snapshot JPEG): they authenticate their requests themselves (Authorized says
	// whether one carries the token), so the token check does not stand before them.
	Mount  map[string]http.Handler
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultClientQueue   = 8 << 20
	DefaultMaxClients    = 8
	DefaultWriteTimeout  = 10 * time.Second
	DefaultHeaderTimeout = 5 * time.Second
	// MaxHeaderBytes bounds a request's line and headers.
	MaxHeaderBytes = 16 << 10
)

// ErrTokenRequired is returned by Listen for an address beyond loopback without a token.
var ErrTokenRequired = errors.New("httpflv: listening beyond loopback needs a token (CAMNODE_HTTP_TOKEN)")

// Server is the HTTP-FLV destination and the player page. It is one more destination of
// the pipeline (a media.Output): its writes never block on a browser. Listen binds it;
// Serve serves until its context ends.
type Server struct {
	opts Options
	log  *slog.Logger
	ln   net.Listener
	http *http.Server
	page []byte
	// boundName is the host name of Options.Addr, when it is a name; see knownHost.
	boundName string
	refused   *refusals
	done      chan struct{} // closed when Run stops: every streaming handler returns
	// handlers joins the streaming handlers, whose connections net/http no longer tracks.
	handlers sync.WaitGroup

	stream
}

// Listen checks opts and binds the listening socket, so that the address is known (and
// taken) before the stream starts. Run serves it.
func Listen(opts Options) (*Server, error) {
	host, port, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("httpflv: listen address %q: %w", opts.Addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("httpflv: listen address %q: port %q is not a number from 0 to 65535", opts.Addr, port)
	}
	if opts.Token == "" && !Loopback(host) {
		return nil, fmt.Errorf("%w: %s", ErrTokenRequired, opts.Addr)
	}
	if opts.ClientQueue <= 0 {
		opts.ClientQueue = DefaultClientQueue
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = DefaultMaxClients
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.MaxConnsPerAddr <= 0 {
		opts.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	if opts.HeaderTimeout <= 0 {
		opts.HeaderTimeout = DefaultHeaderTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	tcp, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("httpflv: %w", err)
	}
	refused := newRefusals(opts.Logger)
	ln := newLimitListener(tcp, opts.MaxConns, opts.MaxConnsPerAddr, refused)
	s := &Server{opts: opts, log: opts.Logger, ln: ln, page: playerPage(), done: make(chan struct{}), refused: refused}
	if net.ParseIP(host) == nil {
		s.boundName = host
	}
	s.stream.init(opts, opts.Logger)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.servePage)
	mux.HandleFunc("GET /status", s.serveStatus)
	mux.HandleFunc("GET /live.flv", s.serveFLV)
	s.http = &http.Server{
		Handler:           s.guard(withFavicon(s.mount(s.authorize(mux)))),
		ReadHeaderTimeout: opts.HeaderTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		IdleTimeout:       60 * time.Second,
		ConnState:         ln.connState,
		// net/http logs connection-level trouble (never a URL) here.
		ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Loopback reports whether host (of host:port) reaches only this machine: "localhost" or
// a loopback IP. An empty host, 0.0.0.0 and :: listen on every interface.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Addr is the address the server listens on, e.g. 127.0.0.1:8080.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the player page's address (without the token): http://host:port/.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + "/" }

// Serve serves until ctx ends, then ends every stream to a browser, waits for the handlers
// and returns nil; or returns the error that stopped the listener. Call it once. (Run is
// one stream, as for every media.Output.)
func (s *Server) Serve(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- s.http.Serve(s.ln) }()
	var err error
	select {
	case err = <-served:
		err = fmt.Errorf("httpflv: serve %s: %w", s.ln.Addr(), err)
	case <-ctx.Done():
	}
	close(s.done)
	s.stream.cutAll()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.http.Shutdown(shutdown) != nil {
		s.http.Close()
	}
	if err == nil {
		<-served
	}
	s.handlers.Wait()
	return err
}

// mount puts Options.Mount beside the player's handlers, which sit behind the token.
func (s *Server) mount(player http.Handler) http.Handler {
	if len(s.opts.Mount) == 0 {
		return player
	}
	root := http.NewServeMux()
	for pattern, h := range s.opts.Mount {
		root.Handle(pattern, h)
	}
	root.Handle("/", player)
	return root
}

// Authorized reports whether r may see the player: no token is set, or r carries it
// (`?token=` or `Authorization: Bearer`).
func (s *Server) Authorized(r *http.Request) bool {
	if s.opts.Token == "" {
		return true
	}
	got := r.URL.Query().Get("token")
	if auth := r.Header.Get("Authorization"); got == "" && len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ") {
		got = strings.TrimSpace(auth[7:])
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.Token)) == 1
}

// authorize lets a request through when no token is set or it carries the token.
func (s *Server) authorize(next http.Handler) http.Handler {
	if s.opts.Token == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.Authorized(r) {
			s.refused.note("http: request without a valid token refused", "remote", r.RemoteAddr, "path", loggedPath(r.URL.Path))
			w.Header().Set("WWW-Authenticate", `Bearer realm="camnode"`)
			http.Error(w, "camnode: this player needs its token: open it as /?token=…", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// The player is index.html with player.js put inline, so that one request (which carries
// the token) loads all of it.
var (
	//go:embed web/index.html
	indexHTML string
	//go:embed web/player.js
	playerJS string
)

func playerPage() []byte {
	const tag = `<script src="player.js"></script>`
	if !strings.Contains(indexHTML, tag) {
		panic("httpflv: web/index.html lost its " + tag)
	}
	return []byte(strings.Replace(indexHTML, tag, "<script>\n"+playerJS+"</script>", 1))
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// The URL may hold the token: it must not leave in a Referer.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; media-src 'self' blob:; frame-ancestors *")
	w.Write(s.page)
}

// Status is what GET /status says; the page polls it while the stream is not live.
type Status struct {
	Live    bool `json:"live"`
	Width   int  `json:"width,omitempty"`
	Height  int  `json:"height,omitempty"`
	Clients int  `json:"clients"`
	// ChatBurntIn is Options.ChatBurntIn: the page leaves the SEI danmaku undrawn.
	ChatBurntIn bool `json:"chatBurntIn,omitempty"`
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(s.status())
}

// serveFLV streams to one browser: the FLV header, onMetaData and the sequence headers
// when its first keyframe comes, then every tag, until the stream ends, the browser goes,
// the browser falls ClientQueue behind, or Run stops.
//
// It takes the connection over from net/http and writes the body as it is, until the
// connection closes (HTTP/1.1 with Connection: close, like a file of unknown length): one
// write per picture (see client: offer makes it while the socket keeps up), where chunked
// encoding costs three writes (and TCP segments) per picture.
func (s *Server) serveFLV(w http.ResponseWriter, r *http.Request) {
	s.handlers.Add(1)
	defer s.handlers.Done()
	if r.Method == http.MethodHead {
		if !s.status().Live {
			http.Error(w, "camnode: "+errNotLive.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "video/x-flv")
		w.Header().Set("Cache-Control", "no-store")
		return
	}
	c, err := s.stream.join(r.RemoteAddr)
	if err != nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "camnode: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer s.stream.leave(c)
	conn, buffered, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.log.Warn("http: cannot stream to the player", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "camnode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Time{}) // the reader below waits as long as the browser stays
	s.log.Info("http: player connected", "remote", r.RemoteAddr)
	s.stream.streaming(c, conn)

	// The browser sends nothing more; a read that ends says it went away even while no
	// tags come. Closing conn (deferred above) ends the reader, which is joined.
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		io.Copy(io.Discard, buffered)
	}()
	defer func() {
		conn.Close()
		<-gone
	}()

	const header = "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
	if s.stream.extend(c, s.opts.WriteTimeout) != nil {
		return
	}
	if _, err := io.WriteString(conn, header); err != nil {
		return
	}
	// c is busy until take finds nothing to write: offer then writes to it itself, and
	// wakes this goroutine only when the socket is full.
	for {
		batch, n, work, end := s.stream.take(c)
		if end != nil {
			s.log.Info("http: player stream ended", "remote", r.RemoteAddr, "reason", end)
			return
		}
		if !work {
			select {
			case <-c.wake:
			case <-gone:
				s.log.Info("http: player went away", "remote", r.RemoteAddr)
				return
			case <-s.done:
				return
			}
			continue
		}
		for _, p := range batch {
			c.out.append(p)
		}
		// The deadline is renewed only while c is not dropped: a drop (cut) must stick.
		if s.stream.extend(c, s.opts.WriteTimeout) != nil {
			return
		}
		sent, err := conn.Write(c.out.buf)
		c.out.buf = c.out.buf[:0]
		s.stream.written(c, n, sent)
		if err != nil {
			s.log.Info("http: player connection failed", "remote", r.RemoteAddr, "err", err)
			return
		}
	}
}
