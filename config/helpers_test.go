package config

import (
	"net"
	"testing"
)

type netListen struct{}

// closed returns 127.0.0.1:port where nothing listens.
func (netListen) closed(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
