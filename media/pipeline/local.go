package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/httpflv"
)

// LocalOptions are what the node's settings ask of its local outputs, those that serve
// viewers on the node itself: the player and HTTP-FLV (CAMNODE_HTTP).
type LocalOptions struct {
	HTTP, HTTPToken string
	// FrameRate and BitrateKbps are announced where the stream does not say them.
	FrameRate   float64
	BitrateKbps float64
	Logger      *slog.Logger
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
	log    *slog.Logger
	player *httpflv.Server // nil without CAMNODE_HTTP
	outs   []media.Output
}

// ListenLocal binds every local output the options ask for. A setting that cannot work
// (a port that is taken, a listener beyond loopback without its credentials) is a
// *SettingError naming the variable.
func ListenLocal(o LocalOptions) (*Local, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Local{log: o.Logger}
	if o.HTTP != "" {
		srv, err := httpflv.Listen(httpflv.Options{Addr: o.HTTP, Token: o.HTTPToken, FrameRate: o.FrameRate,
			BitrateKbps: o.BitrateKbps, Logger: o.Logger})
		if err != nil {
			v := "CAMNODE_HTTP"
			if errors.Is(err, httpflv.ErrTokenRequired) {
				v = "CAMNODE_HTTP_TOKEN"
			}
			return nil, &SettingError{Var: v, Err: err}
		}
		l.player = srv
		l.outs = append(l.outs, srv)
	}
	return l, nil
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

// Describe names the local outputs for a person: "the player at http://127.0.0.1:8080/".
func (l *Local) Describe() string {
	var parts []string
	if p := l.PlayerURL(); p != "" {
		parts = append(parts, "the player at "+p)
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
	wg.Wait()
}
