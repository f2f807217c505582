package peers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PKI is a private CA that signed a server certificate for 127.0.0.1 and localhost and a
// client certificate, as PEM files the user mosquitto drops to can read. OtherCA signed
// none of them: a client trusting only it must refuse the server.
type PKI struct {
	Dir                   string
	CA                    string
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	OtherCA               string
	OtherClient, OtherKey string // a client certificate signed by OtherCA
}

// NewPKI makes the certificates with crypto/x509 (ECDSA P-256, valid for a day).
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := tempDir(t)
	p := &PKI{Dir: dir}
	caKey, ca := newCert(t, nil, nil, &x509.Certificate{
		Subject: pkix.Name{CommonName: "camnode test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	})
	p.CA = writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Raw)
	p.ServerCert, p.ServerKey = p.leaf(t, caKey, ca, "server", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.ClientCert, p.ClientKey = p.leaf(t, caKey, ca, "client", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "camnode"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	otherKey, other := newCert(t, nil, nil, &x509.Certificate{
		Subject: pkix.Name{CommonName: "some other CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	})
	p.OtherCA = writePEM(t, dir, "other-ca.pem", "CERTIFICATE", other.Raw)
	p.OtherClient, p.OtherKey = p.leaf(t, otherKey, other, "other-client", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "camnode"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return p
}

// leaf signs tmpl with the CA and writes <name>.pem and <name>.key.
func (p *PKI) leaf(t testing.TB, caKey *ecdsa.PrivateKey, ca *x509.Certificate, name string, tmpl *x509.Certificate) (cert, key string) {
	t.Helper()
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	k, c := newCert(t, caKey, ca, tmpl)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, p.Dir, name+".pem", "CERTIFICATE", c.Raw), writePEM(t, p.Dir, name+".key", "PRIVATE KEY", der)
}

// newCert signs tmpl with parent (self-signed when parent is nil).
func newCert(t testing.TB, parentKey *ecdsa.PrivateKey, parent, tmpl *x509.Certificate) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

// writePEM writes one PEM block, readable by the unprivileged user a peer drops to.
func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// MosquittoTLS says how the TLS listener of StartMosquittoTLS admits clients.
type MosquittoTLS struct {
	// Users and their passwords, in a password_file made with mosquitto_passwd; a client
	// must log in as one of them. Empty: anonymous clients are let in.
	Users map[string]string
	// RequireCertificate makes the broker ask for a client certificate signed by the PKI's
	// CA (require_certificate true).
	RequireCertificate bool
}

// StartMosquittoTLS runs a broker like StartMosquitto, plus a TLS listener on TLSPort with
// the PKI's server certificate and the logins of opts. The plain listener on Port stays
// open to anonymous clients, for the test's own mosquitto_pub/mosquitto_sub.
func StartMosquittoTLS(t testing.TB, pki *PKI, opts MosquittoTLS) *Mosquitto {
	t.Helper()
	Require(t, "mosquitto", "mosquitto_pub", "mosquitto_sub", "mosquitto_passwd")
	m := &Mosquitto{Port: FreePort(t), TLSPort: FreePort(t), Dir: tempDir(t)}
	var tlsAuth string
	if len(opts.Users) == 0 {
		tlsAuth = "allow_anonymous true\n"
	} else {
		pwPath := filepath.Join(m.Dir, "passwd")
		users := make([]string, 0, len(opts.Users))
		for u := range opts.Users {
			users = append(users, u)
		}
		sort.Strings(users)
		for i, u := range users {
			args := []string{"-b", pwPath, u, opts.Users[u]}
			if i == 0 {
				args = append([]string{"-c"}, args...)
			}
			// The error would repeat the command line, password and all: say less.
			if out, err := exec.Command("mosquitto_passwd", args...).CombinedOutput(); err != nil {
				t.Fatalf("peers: mosquitto_passwd for user %q: %v: %s", u, err, strings.ReplaceAll(string(out), opts.Users[u], "****"))
			}
		}
		os.Chmod(pwPath, 0o644) // mosquitto reads it after dropping to its own user
		tlsAuth = "allow_anonymous false\npassword_file " + pwPath + "\n"
	}
	conf := fmt.Sprintf(`per_listener_settings true
listener %d 127.0.0.1
allow_anonymous true
listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
require_certificate %t
%s%s`, m.Port, m.TLSPort, pki.CA, pki.ServerCert, pki.ServerKey, opts.RequireCertificate, tlsAuth, mosquittoCommon)
	m.run(t, conf)
	if err := WaitPort("127.0.0.1:"+strconv.Itoa(m.TLSPort), 10*time.Second); err != nil {
		t.Fatalf("peers: mosquitto TLS listener: %v\n%s", err, m.proc.logTail(20))
	}
	return m
}

// TLSURL is the TLS listener's address with scheme, e.g. "mqtts://127.0.0.1:8883".
func (m *Mosquitto) TLSURL(scheme string) string {
	return scheme + "://127.0.0.1:" + strconv.Itoa(m.TLSPort)
}
