package twitch

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/chat/platform"
)

// DefaultEndpoint is Twitch's IRC server over TLS.
const DefaultEndpoint = "ircs://irc.chat.twitch.tv:6697"

// Options of a channel's reader. The zero value of each field but Channel is usable.
type Options struct {
	Channel  string   // the channel's login name, without '#'
	Endpoint *url.URL // irc://, ircs:// (TLS), ws:// or wss://; nil: DefaultEndpoint
	// Token is an OAuth token ("oauth:..." or bare) to read as a named account; empty reads
	// anonymously as justinfanNNNNN. It is a secret: no error or log holds it.
	Token string
	// KeepAlive is how often the reader pings the server; a connection that has answered
	// nothing for twice as long is dead. 0 means 60 s.
	KeepAlive time.Duration
	// Timeout bounds connecting and the IRC registration; 0 means 15 s.
	Timeout time.Duration
}

// Session is one connection to the channel, for a platform.Supervisor.
func Session(o Options) platform.Session {
	if o.Endpoint == nil {
		o.Endpoint, _ = url.Parse(DefaultEndpoint)
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	o.Channel = strings.ToLower(strings.TrimPrefix(o.Channel, "#"))
	return func(ctx context.Context, up func(), deliver func(chat.Message)) error {
		return o.session(ctx, up, deliver)
	}
}

// lineConn is an IRC connection as lines, whatever carries them. ReadLine is called from
// one goroutine; WriteLine from any.
type lineConn interface {
	ReadLine(deadline time.Time) (string, error)
	WriteLine(s string) error
	Close() error
}

func (o Options) session(ctx context.Context, up func(), deliver func(chat.Message)) error {
	conn, err := dial(ctx, o.Endpoint, o.Timeout)
	if err != nil {
		return err
	}
	// Closing the connection is how ctx ends a blocked read.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer func() {
		stop()
		conn.Close()
	}()

	nick := fmt.Sprintf("justinfan%05d", 10000+rand.N(90000))
	if o.Token != "" {
		// The token's account: Twitch takes any nick with a token and uses the token's.
		nick = "camnode"
	}
	hello := []string{"CAP REQ :twitch.tv/tags twitch.tv/commands"}
	if o.Token != "" {
		tok := o.Token
		if !strings.HasPrefix(tok, "oauth:") {
			tok = "oauth:" + tok
		}
		hello = append(hello, "PASS "+tok)
	}
	// USER for plain IRC servers (Twitch ignores it); CAP END closes the negotiation that
	// CAP REQ opened, whether the server said ACK or NAK.
	hello = append(hello, "NICK "+nick, "USER "+nick+" 0 * :camnode", "CAP END")
	for _, l := range hello {
		if err := conn.WriteLine(l); err != nil {
			return o.fail(ctx, "send registration", err)
		}
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	pingCtx, stopPing := context.WithCancel(ctx)
	defer stopPing()
	platform.Heartbeat(pingCtx, &wg, o.KeepAlive, false, func() error { return conn.WriteLine("PING :camnode") })

	registered, joined := false, false
	deadline := time.Now().Add(o.Timeout)
	for {
		s, err := conn.ReadLine(deadline)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, errTimeout) {
				if !joined {
					return fmt.Errorf("twitch: %s: no answer to registration and JOIN within %v", o.Endpoint.Host, o.Timeout)
				}
				return fmt.Errorf("twitch: %s: nothing heard for %v (keep-alive)", o.Endpoint.Host, 2*o.KeepAlive)
			}
			return o.fail(ctx, "read", err)
		}
		if joined {
			deadline = time.Now().Add(2 * o.KeepAlive)
		}
		l, err := ParseLine(s)
		if err != nil {
			continue // one garbled line is no reason to drop the channel
		}
		switch l.Command {
		case "PING":
			arg := ""
			if len(l.Params) > 0 {
				arg = l.Params[0]
			}
			if err := conn.WriteLine("PONG :" + arg); err != nil {
				return o.fail(ctx, "send PONG", err)
			}
		case "001": // welcome: registered
			registered = true
			if err := conn.WriteLine("JOIN #" + o.Channel); err != nil {
				return o.fail(ctx, "send JOIN", err)
			}
		case "JOIN", "366": // our JOIN echoed, or the end of the names list
			if registered && !joined && (l.Command == "366" || strings.EqualFold(l.Nick(), nick) || o.Token != "") {
				joined = true
				deadline = time.Now().Add(2 * o.KeepAlive)
				up()
			}
		case "RECONNECT":
			return fmt.Errorf("twitch: %s asked to reconnect (server maintenance)", o.Endpoint.Host)
		case "NOTICE":
			if !registered && len(l.Params) > 0 {
				// "Login authentication failed", "Improperly formatted auth"
				return fmt.Errorf("twitch: %s refused the login: %s", o.Endpoint.Host, l.Params[len(l.Params)-1])
			}
		case "ERROR":
			return fmt.Errorf("twitch: %s closed the connection: %s", o.Endpoint.Host, strings.Join(l.Params, " "))
		case "403", "405", "471", "473", "474", "475", "476": // cannot join
			return fmt.Errorf("twitch: cannot join #%s: %s", o.Channel, strings.Join(l.Params[min(1, len(l.Params)):], " "))
		case "PRIVMSG":
			if m, ok := l.Message(); ok && joined {
				deliver(m)
			}
		}
	}
}

// fail is err as the reader reports it: nil when ctx ended (a shutdown, not a failure).
func (o Options) fail(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("twitch: %s: %s: %w", o.Endpoint.Host, what, err)
}

var errTimeout = errors.New("read timed out")

// dial connects within timeout; ctx ends a WebSocket connection (a TCP one is the
// caller's to close).
func dial(ctx context.Context, u *url.URL, timeout time.Duration) (lineConn, error) {
	switch u.Scheme {
	case "irc", "ircs":
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), map[string]string{"irc": "6667", "ircs": "6697"}[u.Scheme])
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", host)
		if err != nil {
			return nil, fmt.Errorf("twitch: connect %s: %w", host, err)
		}
		if u.Scheme == "ircs" {
			tc := tls.Client(c, &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12})
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, fmt.Errorf("twitch: TLS %s: %w", host, err)
			}
			c = tc
		}
		return &tcpLines{c: c, r: bufio.NewReaderSize(c, 4096)}, nil
	case "ws", "wss":
		c, err := platform.DialWebSocket(ctx, u, nil, timeout, 64<<10)
		if err != nil {
			return nil, fmt.Errorf("twitch: %w", err)
		}
		return &wsLines{c: c}, nil
	}
	return nil, fmt.Errorf("twitch: scheme %q: use irc://, ircs://, ws:// or wss://", u.Scheme)
}

// tcpLines is IRC over TCP or TLS: CR LF terminated lines.
type tcpLines struct {
	c  net.Conn
	r  *bufio.Reader
	mu sync.Mutex
}

func (t *tcpLines) ReadLine(deadline time.Time) (string, error) {
	t.c.SetReadDeadline(deadline)
	var line []byte
	for {
		b, err := t.r.ReadSlice('\n')
		line = append(line, b...)
		if len(line) > MaxLine+2 {
			return "", fmt.Errorf("a line of more than %d bytes", MaxLine)
		}
		switch {
		case err == nil:
			return string(line), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, net.ErrClosed):
			return "", err
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return "", errTimeout
		}
		return "", err
	}
}

func (t *tcpLines) WriteLine(s string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := t.c.Write([]byte(s + "\r\n"))
	return err
}

func (t *tcpLines) Close() error { return t.c.Close() }

// wsLines is IRC over WebSocket: each text message holds one or more CR LF lines.
type wsLines struct {
	c       *platform.WebSocket
	pending []string
}

func (w *wsLines) ReadLine(deadline time.Time) (string, error) {
	for len(w.pending) == 0 {
		b, err := w.c.Read(deadline)
		if errors.Is(err, platform.ErrReadTimeout) {
			return "", errTimeout
		}
		if err != nil {
			return "", err
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimRight(l, "\r"); l != "" {
				w.pending = append(w.pending, l)
			}
		}
	}
	l := w.pending[0]
	w.pending = w.pending[1:]
	return l, nil
}

func (w *wsLines) WriteLine(s string) error { return w.c.WriteText([]byte(s)) }

func (w *wsLines) Close() error { return w.c.Close() }
