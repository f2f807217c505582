//go:build !linux

package rtmp

import (
	"io"
	"net"
)

// socketWriter is nc: the raw write of socketwrite_linux.go is Linux only.
func socketWriter(nc net.Conn) io.Writer { return nc }
