// Package mqtt is camnode's MQTT side: the broker session, the topic layout and command parsing.
package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/camnode/camnode/internal/redact"
)

// Config is what a Session needs to reach the broker.
type Config struct {
	// URL is the broker: tcp:// (or mqtt://), ssl:// (or mqtts://), ws:// or wss://. A
	// missing port means the usual one (1883, 8883, 80, 443). User and password in the URL
	// are used when Username and Password are empty.
	URL                       string
	Username, Password        string
	CAFile, CertFile, KeyFile string // TLS only: extra trusted CA; client certificate pair
	ClientID                  string // default "camnode-<node ID>"
	Topics                    Topics
	KeepAlive                 time.Duration // default 30 s
	// MaxReconnectInterval caps the delay between attempts to reach a broker that went away
	// (doubling from 1 s, paho's backoff) and the interval of retries of the first connection
	// (3 s unless the cap is lower). Default 30 s.
	MaxReconnectInterval time.Duration
	MaxPayload           int          // bytes; larger payloads are rejected (default DefaultMaxPayload)
	Logger               *slog.Logger // default slog.Default()
	// OnConnect is called after every (re)connect, once the subscriptions are in place and
	// "online" has been queued, in its own goroutine: the node republishes its retained
	// state there (through Publish, so it follows "online").
	OnConnect func()
	// OnBusy, when set, is told of each command dropped because the node did not take the
	// previous ones in time, instead of the session publishing an event per command: in a
	// flood of chat the node counts and summarises them with its own chat drops. It runs on
	// paho's goroutine and must not block.
	OnBusy func(Command)
	// OnRejected, when set, is told of each message rejected before it became a command
	// (after its event is queued), so that the node counts rejected chat. It runs on
	// paho's goroutine and must not block.
	OnRejected func(*RejectError)
}

// Timing of the session. Reconnects back off from 1 s to Config.MaxReconnectInterval
// (paho's doubling); the first connection is retried every connectRetryInterval.
const (
	defaultKeepAlive            = 30 * time.Second
	connectTimeout              = 10 * time.Second
	connectRetryInterval        = 3 * time.Second
	defaultMaxReconnectInterval = 30 * time.Second
	// publishTimeout bounds the wait for a PUBACK (and paho's own hand-over).
	publishTimeout   = 5 * time.Second
	subscribeTimeout = 10 * time.Second
	// closeDrain bounds how long Close spends on messages still queued.
	closeDrain = 2 * time.Second
	// disconnectQuiesce is how long paho may take to send DISCONNECT on Close.
	disconnectQuiesce = 250 // ms

	commandQueue = 256
	outboxQueue  = 256
)

// Availability payloads on Topics.Availability.
const (
	Online  = "online"
	Offline = "offline"
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("mqtt: session closed")

// Session is one node's connection to the broker. It owns its goroutines: paho's, one that
// publishes queued messages in order, and whatever OnConnect runs in.
type Session struct {
	cfg      Config
	log      *slog.Logger
	broker   string // redacted URL
	tls      bool   // the broker URL is a TLS one
	client   paho.Client
	commands chan Command
	outbox   chan outMessage

	ready     chan struct{} // closed once the first connection has its subscriptions
	readyOnce sync.Once
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	published chan struct{} // closed when the publishing goroutine has ended
	drainBy   atomic.Int64  // unix ns after which queued messages are dropped; 0: none

	mu         sync.Mutex // guards the fields below and sends on commands and outbox
	started    bool
	closed     bool
	outboxFull bool   // a drop has been logged; reset when the queue takes messages again
	lastDialed string // last connection failure logged at warn, to log repeats at debug
}

// outMessage is a queued publish.
type outMessage struct {
	topic    string
	retained bool
	payload  []byte
}

// New checks the configuration, loads the TLS files and prepares the client; it does not
// connect. Errors name the setting or file that is wrong, never the password.
func New(cfg Config) (*Session, error) {
	if err := cfg.Topics.Validate(); err != nil {
		return nil, err
	}
	b, err := parseBrokerURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Username == "" && cfg.Password == "" {
		cfg.Username, cfg.Password = b.username, b.password
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "camnode-" + cfg.Topics.NodeID
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = defaultKeepAlive
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	if cfg.MaxReconnectInterval <= 0 {
		cfg.MaxReconnectInterval = defaultMaxReconnectInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Session{
		cfg:       cfg,
		log:       cfg.Logger.With("broker", b.redacted),
		broker:    b.redacted,
		tls:       b.tls,
		commands:  make(chan Command, commandQueue),
		outbox:    make(chan outMessage, outboxQueue),
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
		published: make(chan struct{}),
	}

	opts := paho.NewClientOptions().
		AddBroker(b.dial.String()).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		// A clean session keeps no queued commands across restarts (they would be stale);
		// the subscriptions are made again in onConnect.
		SetCleanSession(true).
		SetResumeSubs(false).
		SetOrderMatters(true).
		SetKeepAlive(cfg.KeepAlive).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(publishTimeout).
		SetConnectRetry(true).
		SetConnectRetryInterval(min(connectRetryInterval, cfg.MaxReconnectInterval)).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(cfg.MaxReconnectInterval).
		SetWill(cfg.Topics.Availability, Offline, 1, true).
		SetOnConnectHandler(s.onConnect).
		SetConnectionLostHandler(s.onConnectionLost).
		SetConnectionNotificationHandler(s.onNotification).
		SetDefaultPublishHandler(s.onMessage)
	switch {
	case b.tls:
		tc, err := tlsConfig(cfg.CAFile, cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, err
		}
		opts.SetTLSConfig(tc)
	case cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "":
		return nil, fmt.Errorf("mqtt: CA, certificate or key file given, but broker URL %s is not TLS (use ssl://, mqtts:// or wss://)", b.redacted)
	}
	s.client = paho.NewClient(opts)
	return s, nil
}

// Start connects to the broker and subscribes. It returns nil once the first connection is
// up with its subscriptions in place, or an error when ctx ends first; either way the
// session keeps connecting and reconnecting in the background until Close.
func (s *Session) Start(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.started:
		s.mu.Unlock()
		return errors.New("mqtt: session already started")
	}
	s.started = true
	s.mu.Unlock()

	go s.publishLoop()
	s.log.Info("mqtt connecting", "client_id", s.cfg.ClientID)
	connected := s.client.Connect().Done()
	for {
		select {
		case <-s.ready:
			return nil
		case <-connected:
			// With ConnectRetry the token only ends once connected, or when Close stops
			// the attempts; wait for the subscriptions (or Close) either way.
			connected = nil
		case <-s.done:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("mqtt: connect %s: %w (still retrying in the background)", s.broker, ctx.Err())
		}
	}
}

// Commands returns the accepted commands in arrival order. The channel is closed by Close.
// When it is full (the node does not keep up) a command is dropped with a
// command_rejected "node busy" event.
func (s *Session) Commands() <-chan Command { return s.commands }

// Connected reports whether the connection to the broker is up right now.
func (s *Session) Connected() bool { return s.client.IsConnectionOpen() }

// Publish queues a QoS 1 message and returns at once; payload is copied. Messages go out in
// the order queued. While the broker is unreachable, messages are dropped (the node
// republishes its retained state from OnConnect); a full queue drops too, with a log line.
func (s *Session) Publish(topic string, retained bool, payload []byte) {
	s.enqueue(outMessage{topic: topic, retained: retained, payload: append([]byte(nil), payload...)})
}

// PublishIfRoom publishes a message that may be lost, unless the queue is half full: a
// mirror of what the node takes (chat/in, a message per chat message) must never crowd
// out the state and the events behind it in one queue. It reports whether it queued.
func (s *Session) PublishIfRoom(topic string, payload []byte) bool {
	if len(s.outbox) >= cap(s.outbox)/2 {
		return false
	}
	s.enqueue(outMessage{topic: topic, payload: append([]byte(nil), payload...)})
	return true
}

// event is the JSON published on Topics.Event.
type event struct {
	Event  string `json:"event"`
	Reason string `json:"reason"`
	TS     string `json:"ts"`
	Target string `json:"target,omitempty"`
}

// PublishEvent publishes {"event":…,"reason":…,"ts":…} on Topics.Event, not retained, where
// ts is the current time in RFC 3339 UTC with milliseconds ("2025-01-02T15:04:05.123Z"). The
// reason must already be free of secrets.
func (s *Session) PublishEvent(name, reason string) { s.PublishTargetEvent(name, "", reason) }

// PublishTargetEvent is PublishEvent for an event about one destination: target, its
// redacted URL, goes into the payload's "target" field.
func (s *Session) PublishTargetEvent(name, target, reason string) {
	payload, err := json.Marshal(event{Event: name, Reason: reason, TS: time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"), Target: target})
	if err != nil { // cannot happen for strings; json.Marshal replaces invalid UTF-8
		s.log.Error("mqtt event not encoded", "event", name, "err", err)
		return
	}
	s.enqueue(outMessage{topic: s.cfg.Topics.Event, payload: payload})
}

// Close publishes what is still queued (for up to 2 s), then "offline" on the availability
// topic (retained), and disconnects cleanly, so the broker does not send the last will.
// It closes the Commands channel. Close is safe to call more than once.
func (s *Session) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		started := s.started
		close(s.done)
		close(s.outbox)
		close(s.commands)
		s.mu.Unlock()
		if !started {
			return
		}
		s.drainBy.Store(time.Now().Add(closeDrain).UnixNano())
		<-s.published
		if s.client.IsConnectionOpen() {
			if tok := s.client.Publish(s.cfg.Topics.Availability, 1, true, Offline); !tok.WaitTimeout(time.Second) {
				s.log.Warn("mqtt offline not acknowledged before disconnect")
			} else if err := tok.Error(); err != nil {
				s.log.Warn("mqtt offline not published", "err", s.redact(err))
			}
		}
		s.client.Disconnect(disconnectQuiesce)
		s.log.Info("mqtt disconnected")
	})
}

// enqueue hands a message to the publishing goroutine without blocking.
func (s *Session) enqueue(m outMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.log.Debug("mqtt publish after close dropped", "topic", m.topic)
		return
	}
	select {
	case s.outbox <- m:
		s.outboxFull = false
	default:
		if !s.outboxFull {
			s.log.Warn("mqtt publish queue full, dropping messages", "topic", m.topic)
			s.outboxFull = true
		}
	}
}

// publishLoop publishes queued messages one at a time, so they reach the broker in order.
func (s *Session) publishLoop() {
	defer close(s.published)
	for m := range s.outbox {
		timeout := publishTimeout
		if by := s.drainBy.Load(); by != 0 {
			timeout = min(timeout, time.Until(time.Unix(0, by)))
			if timeout <= 0 {
				continue
			}
		}
		if !s.client.IsConnectionOpen() {
			s.log.Debug("mqtt not connected, message dropped", "topic", m.topic)
			continue
		}
		tok := s.client.Publish(m.topic, 1, m.retained, m.payload)
		if !tok.WaitTimeout(timeout) {
			s.log.Warn("mqtt publish not acknowledged in time", "topic", m.topic, "timeout", timeout)
		} else if err := tok.Error(); err != nil {
			s.log.Warn("mqtt publish failed", "topic", m.topic, "err", s.redact(err))
		}
	}
}

// onConnect runs in its own goroutine (paho starts it) after every (re)connect.
func (s *Session) onConnect(c paho.Client) {
	s.log.Info("mqtt connected", "client_id", s.cfg.ClientID)
	s.mu.Lock()
	s.lastDialed = ""
	s.mu.Unlock()

	filters := make(map[string]byte)
	for _, topic := range s.cfg.Topics.Subscriptions() {
		filters[topic] = 1
	}
	tok := c.SubscribeMultiple(filters, s.onMessage)
	switch {
	case !tok.WaitTimeout(subscribeTimeout):
		// Carry on: the broker may still answer, and being online beats being silent.
		s.log.Error("mqtt subscribe not acknowledged in time", "timeout", subscribeTimeout)
	case tok.Error() != nil:
		// The connection went away again; the next connect subscribes anew.
		s.log.Warn("mqtt subscribe failed", "err", s.redact(tok.Error()))
		return
	default:
		if st, ok := tok.(*paho.SubscribeToken); ok {
			for topic, code := range st.Result() {
				if code > 2 { // SUBACK 0x80: refused, typically by an ACL
					s.log.Error("mqtt broker refused subscription", "topic", topic)
				}
			}
		}
	}

	s.enqueue(outMessage{topic: s.cfg.Topics.Availability, retained: true, payload: []byte(Online)})
	s.readyOnce.Do(func() { close(s.ready) })
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if !closed && s.cfg.OnConnect != nil {
		s.cfg.OnConnect()
	}
}

func (s *Session) onConnectionLost(_ paho.Client, err error) {
	s.log.Info("mqtt disconnected, reconnecting", "err", s.redact(err))
}

// onNotification logs failed connection attempts: the first of a kind at warn, repeats
// (the broker stays down) at debug.
func (s *Session) onNotification(_ paho.Client, n paho.ConnectionNotification) {
	failed, ok := n.(paho.ConnectionNotificationFailed)
	if !ok {
		return
	}
	msg := s.redact(failed.Reason)
	s.mu.Lock()
	repeat := msg == s.lastDialed
	s.lastDialed = msg
	s.mu.Unlock()
	level := slog.LevelWarn
	if repeat {
		level = slog.LevelDebug
	}
	attrs := []any{"err", msg}
	if h := connectHint(failed.Reason, s.tls); h != "" {
		attrs = append(attrs, "hint", h)
	}
	s.log.Log(context.Background(), level, "mqtt connect failed, retrying", attrs...)
}

// connectHint says in a user's words what a failed connection most likely means, for the
// failures that retrying alone will not fix. overTLS: the broker URL is ssl://, mqtts:// or wss://.
func connectHint(err error, overTLS bool) string {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		recordHdr tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, packets.ErrorRefusedNotAuthorised), errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword):
		return "the broker refused the login: check the MQTT user name and password"
	case errors.As(err, &unknownCA):
		return "the broker's certificate is not signed by a trusted CA: set the MQTT CA file to the CA that signed it"
	case errors.As(err, &hostname):
		return "the broker's certificate is not for the host in the broker URL"
	case errors.As(err, &invalid):
		return "the broker's certificate is not valid (expired, or not for a server)"
	case strings.Contains(err.Error(), "remote error: tls:"):
		// A TLS alert from the broker (crypto/tls has no exported type for it over TCP):
		// typically it requires a client certificate and got none, or one it does not trust.
		return "the broker rejected the TLS handshake: check the client certificate and key files"
	case errors.As(err, &recordHdr):
		return "the broker does not speak TLS on this port: use tcp:// or the broker's TLS port"
	case overTLS && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)):
		// With TLS 1.3 a broker that rejects the client's certificate (or its absence)
		// says so after the client's side of the handshake is done: the client may see the
		// connection closed instead of the alert.
		return "the broker closed the TLS connection: it may require a client certificate; check the client certificate and key files"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isTimeout(err):
		// Connected, and then no CONNACK: a web server waits for a line, nginx-rtmp
		// for its handshake, others close at once.
		return "the server at this address does not answer MQTT: check that the broker URL names the broker's port (Mosquitto listens on 1883, 8883 for TLS), not a web, RTMP or other server's"
	}
	return ""
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// onMessage runs in paho's router goroutine and must not block it: it parses, hands the
// command over without waiting, and leaves publishing events to the publishing goroutine.
func (s *Session) onMessage(_ paho.Client, m paho.Message) {
	cmd, err := ParseCommand(s.cfg.Topics, m.Topic(), m.Payload(), m.Retained(), s.cfg.MaxPayload)
	if err != nil {
		var re *RejectError
		if errors.As(err, &re) {
			s.rejected(re)
		}
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	select {
	case s.commands <- cmd:
		s.mu.Unlock()
		s.log.Debug("mqtt command", "topic", cmd.Topic, "kind", cmd.Kind.String())
	default:
		s.mu.Unlock()
		if s.cfg.OnBusy != nil {
			s.cfg.OnBusy(cmd)
			return
		}
		name := EventCommandRejected
		if cmd.Kind == CommandChat {
			name = EventChatRejected
		}
		s.rejected(reject(cmd.Topic, name, s.cfg.Topics.label(cmd.Topic)+": node busy, command dropped"))
	}
}

func (s *Session) rejected(re *RejectError) {
	if re.Silent() {
		s.log.Debug("mqtt message ignored", "reason", re.Reason)
		return
	}
	s.log.Info("mqtt message rejected", "event", re.Event, "reason", re.Reason)
	s.PublishEvent(re.Event, re.Reason)
	if s.cfg.OnRejected != nil {
		s.cfg.OnRejected(re)
	}
}

// redact renders an error from paho for a log line with the password masked; paho's
// errors are not expected to carry it, but a log line is no place to find out.
func (s *Session) redact(err error) string {
	if err == nil {
		return ""
	}
	return redact.Echo(err.Error(), []string{s.cfg.Password})
}
