//go:build !(386 || arm || mips || mipsle)

package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/yutopp/go-rtmp"
)

// Serve accepts publishers until ctx ends, then closes the listener and every connection and
// waits for their handlers, so that every recording is complete when it returns. It returns
// nil after ctx ended; it may be called once.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.served {
		s.mu.Unlock()
		return errors.New("ingest: Serve called twice")
	}
	s.served = true
	s.mu.Unlock()

	s.log.Info("rtmp ingest listening", "addr", s.ln.Addr().String(), "dir", s.dir)
	srv := rtmp.NewServer(&rtmp.ServerConfig{OnConnect: s.onConnect})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(s.ln) }()

	var err error
	select {
	case <-ctx.Done():
	case serr := <-served:
		// go-rtmp only returns early when the listener was already registered elsewhere.
		err = fmt.Errorf("ingest: serve on %s: %w", s.ln.Addr(), serr)
		served = nil
	}
	srv.Close()
	// Closing our listener too covers the window where go-rtmp's Serve has not registered
	// the listener yet, so srv.Close could not close it.
	s.ln.Close()
	if served != nil {
		<-served
	}
	s.ln.closeConns()
	s.ln.wait()
	return err
}

func (s *Server) onConnect(c net.Conn) (io.ReadWriteCloser, *rtmp.ConnConfig) {
	h := &handler{s: s, remote: c.RemoteAddr().String()}
	return c, &rtmp.ConnConfig{
		Handler: h,
		// Publishers delete their stream and then may still send a message or two on it.
		IgnoreMessagesOnNotExistStream:          true,
		IgnoreMessagesOnNotExistStreamThreshold: 16,
		// Bounds on what a hostile client can make the server allocate per connection (the
		// guard enforces the chunk stream limit too).
		ControlState: rtmp.StreamControlStateConfig{
			MaxChunkStreams:   maxChunkStreams,
			MaxMessageStreams: 16,
		},
		// Logger stays nil: go-rtmp then discards its log, which prints stream names.
	}
}
