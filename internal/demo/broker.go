package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Broker is an embedded MQTT broker (mochi-mqtt) for the demo: it lets every client in,
// keeps retained messages in memory only and delivers last wills. It is meant for loopback
// use, not as a production broker.
type Broker struct {
	server *mqtt.Server
	addr   string

	closeOnce sync.Once
	closeErr  error
}

// StartBroker serves MQTT (3.1.1 and 5) on ln until Close; the broker owns ln from now on.
// The broker's own log lines go to logger quietly: errors as warnings, the rest as debug.
func StartBroker(ln net.Listener, logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	quiet := slog.New(quietHandler{next: logger.Handler()}).With("component", "mqtt-broker")
	server := mqtt.New(&mqtt.Options{Logger: quiet})
	addr := ln.Addr().String()
	if err := server.AddHook(new(allowAll), nil); err != nil {
		ln.Close()
		return nil, fmt.Errorf("demo: broker on %s: add allow-all hook: %w", addr, err)
	}
	if err := server.AddListener(listeners.NewNet("demo", ln)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("demo: broker on %s: add listener: %w", addr, err)
	}
	if err := server.Serve(); err != nil {
		server.Close()
		return nil, fmt.Errorf("demo: broker on %s: serve: %w", addr, err)
	}
	return &Broker{server: server, addr: addr}, nil
}

// Addr is host:port the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// Close disconnects every client, stops the listener and waits for the client goroutines to
// end. Calling it again does nothing.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		if err := b.server.Close(); err != nil {
			b.closeErr = fmt.Errorf("demo: close broker on %s: %w", b.addr, err)
		}
	})
	return b.closeErr
}

// quietHandler passes mochi's log records on one step quieter: errors become warnings and
// everything else debug, so that a connect/disconnect chatter does not fill the demo's
// output. Attributes that hold whole packets ("pk", "packet") are dropped, because a CONNECT
// packet carries the client's password.
type quietHandler struct {
	next slog.Handler
}

func (h quietHandler) level(l slog.Level) slog.Level {
	if l >= slog.LevelError {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, h.level(l))
}

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, h.level(r.Level), r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if !secretAttr(a.Key) {
			out.AddAttrs(a)
		}
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	kept := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		if !secretAttr(a.Key) {
			kept = append(kept, a)
		}
	}
	return quietHandler{next: h.next.WithAttrs(kept)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{next: h.next.WithGroup(name)}
}

func secretAttr(key string) bool {
	switch key {
	case "pk", "packet", "password":
		return true
	}
	return false
}

// allowAll lets every client connect and use every topic. mochi's own auth.AllowHook does
// the same but its package pulls in a YAML dependency camnode does not otherwise need.
type allowAll struct {
	mqtt.HookBase
}

func (h *allowAll) ID() string { return "camnode-demo-allow-all" }

func (h *allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
