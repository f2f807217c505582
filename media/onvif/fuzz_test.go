package onvif

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParseRequest: any body is parsed or refused, never a panic; and the whole handler
// answers a SOAP envelope with a status a client can act on.
func FuzzParseRequest(f *testing.F) {
	files, _ := filepath.Glob("testdata/requests/*.xml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>`))
	s := New(Options{Username: "admin", Password: "s3cret", Now: func() time.Time { return zeepCreated }})
	mux := http.NewServeMux()
	s.Register(mux)
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseRequest(b)
		if err == nil && req.Operation.Local == "" {
			t.Fatalf("parsed without an operation: %q", b)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("POST", DevicePath, strings.NewReader(string(b))))
		switch w.Code {
		case 200, 400, 413, 500:
		default:
			t.Fatalf("status %d", w.Code)
		}
		if !strings.Contains(w.Body.String(), "<env:Envelope") {
			t.Fatalf("answer is not an envelope: %s", w.Body.String())
		}
	})
}

// FuzzParseProbe: any datagram is a probe, another message, or an error; never a panic.
func FuzzParseProbe(f *testing.F) {
	f.Add([]byte(nodeOnvifProbe))
	f.Add([]byte(wsdiscoveryProbe))
	d := &Discovery{o: DiscoveryOptions{Device: discoveryDevice}}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseProbe(b)
		if err == nil && p != nil {
			d.matches(p)
		}
	})
}

// FuzzParseAuthParams: any Authorization header is read without a panic, into at most 32
// parameters.
func FuzzParseAuthParams(f *testing.F) {
	f.Add(`username="admin", realm="camnode", nonce="abc", uri="/snapshot.jpg", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="x", response="f00"`)
	f.Add(`realm="a\"b", x=`)
	f.Fuzz(func(t *testing.T, s string) {
		if p := parseAuthParams(s); len(p) > 32 {
			t.Fatalf("%d params", len(p))
		}
	})
}
