//go:build 386 || arm || mips || mipsle

package ingest

import (
	"context"
	"errors"
)

// ErrNeeds64Bit is what Serve returns on a 32-bit build: go-rtmp v0.0.7, which the embedded
// ingest runs on, does not compile for 32-bit targets. camnode itself streams there (its
// publish path is its own); only `camnode demo`'s recorder is missing.
var ErrNeeds64Bit = errors.New("ingest: the embedded RTMP ingest needs a 64-bit build (go-rtmp v0.0.7 does not build for 32-bit targets); point CAMNODE_RTMP_URL at a real ingest instead")

// Serve returns ErrNeeds64Bit at once on a 32-bit build and closes the listener.
func (s *Server) Serve(context.Context) error {
	s.ln.Close()
	return ErrNeeds64Bit
}
