// Package cafile reads a CA file setting (CAMNODE_MQTT_CA_FILE, CAMNODE_RTMP_CA_FILE): PEM
// certificates trusted besides the system's roots.
package cafile

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ErrNoCertificate says a CA file holds no PEM certificate that parses.
var ErrNoCertificate = errors.New("no PEM certificate found")

// Pool is the system's roots plus the certificates of the PEM file at path; the file's
// alone on a system without a CA store. Errors name the file: an *os.PathError, or one that
// wraps ErrNoCertificate.
func Pool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	return pool, appendPEM(pool, path, pem)
}

// Check reads the file at path as Pool does, without loading the system's roots: for the
// settings check.
func Check(path string) error {
	pem, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return appendPEM(x509.NewCertPool(), path, pem)
}

func appendPEM(pool *x509.CertPool, path string, pem []byte) error {
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s: %w", path, ErrNoCertificate)
	}
	return nil
}
