package pipeline

import (
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/camnode/camnode/internal/cafile"
)

// rtmpTLSConfig is the TLS configuration for rtmps:// ingests: the system's roots plus the
// CAs of caFile when it is set. Verification is always on; there is no setting to skip it.
// The file is read at every pipeline start, so a renewed CA is picked up by a restart of
// the stream.
func rtmpTLSConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil // the rtmp package's default: system roots, verification on
	}
	roots, err := cafile.Pool(caFile)
	if err != nil {
		return nil, fmt.Errorf("rtmps: CA file (CAMNODE_RTMP_CA_FILE): %w", err)
	}
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, nil
}

// rtmpTLS is rtmpTLSConfig for a pipeline start, which cannot fail: a CA file that became
// unreadable since the settings were checked is logged, and the system roots alone are
// used, so the ingest's certificate is still verified (and the error says which failed).
func rtmpTLS(caFile string, log *slog.Logger) *tls.Config {
	cfg, err := rtmpTLSConfig(caFile)
	if err != nil {
		log.Error("using the system's CAs only", "err", err)
		return nil
	}
	return cfg
}

// RTMPTLSConfig is the TLS configuration of rtmps:// ingests for CAMNODE_RTMP_CA_FILE (nil:
// the system's roots), for `camnode check`.
func RTMPTLSConfig(caFile string) (*tls.Config, error) { return rtmpTLSConfig(caFile) }
