package node

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// rtmpTLSConfig is the TLS configuration for rtmps:// ingests: the system's roots plus the
// CAs of caFile when it is set. Verification is always on; there is no setting to skip it.
// The file is read at every pipeline start, so a renewed CA is picked up by a restart of
// the stream.
func rtmpTLSConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil // the rtmp package's default: system roots, verification on
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("rtmps: CA file (CAMNODE_RTMP_CA_FILE): %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool() // a system without a CA store: trust the file alone
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("rtmps: CA file %s (CAMNODE_RTMP_CA_FILE) holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, nil
}

// rtmpTLS is rtmpTLSConfig for a pipeline start, which cannot fail: a CA file that became
// unreadable since the settings were checked is logged, and the system roots alone are
// used, so the ingest's certificate is still verified (and the error says which failed).
func (n *Node) rtmpTLS() *tls.Config {
	cfg, err := rtmpTLSConfig(n.cfg.RTMPCAFile)
	if err != nil {
		n.log.Error("using the system's CAs only", "err", err)
		return nil
	}
	return cfg
}

// RTMPTLSConfig is the TLS configuration of rtmps:// ingests for CAMNODE_RTMP_CA_FILE (nil:
// the system's roots), for `camnode check`.
func RTMPTLSConfig(caFile string) (*tls.Config, error) { return rtmpTLSConfig(caFile) }
