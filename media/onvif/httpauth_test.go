package onvif

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// RFC 7616 section 3.9.1's example, both algorithms.
func TestDigestResponseRFC7616(t *testing.T) {
	const nonce, cnonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
	if got := digestResponse(md5.New, "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html", nonce, "00000001", cnonce); got != "8ca523f5e9506fed4657c9700eebdbec" {
		t.Errorf("MD5 response %s", got)
	}
	if got := digestResponse(sha256.New, "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html", nonce, "00000001", cnonce); got != "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1" {
		t.Errorf("SHA-256 response %s", got)
	}
}

func TestParseAuthParams(t *testing.T) {
	p := parseAuthParams(`username="ad\"min", realm="camnode", nonce="abc", uri="/snapshot.jpg", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="x,y", response="f00"`)
	want := map[string]string{"username": `ad"min`, "realm": "camnode", "nonce": "abc", "uri": "/snapshot.jpg", "algorithm": "SHA-256", "qop": "auth", "nc": "00000001", "cnonce": "x,y", "response": "f00"}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %q, want %q", k, p[k], v)
		}
	}
	if p := parseAuthParams(`realm="unterminated`); len(p) != 0 {
		t.Errorf("unterminated quote parsed as %v", p)
	}
}

// A digest made with a nonce that has expired is refused as stale, so the client retries
// with the new nonce without asking its user.
func TestDigestNonceExpires(t *testing.T) {
	now := zeepCreated
	d := newDigestAuth("admin", "s3cret", func() time.Time { return now })
	nonce := d.newNonce()
	params := func() map[string]string {
		return map[string]string{
			"username": "admin", "realm": Realm, "nonce": nonce, "uri": "/snapshot.jpg", "algorithm": "SHA-256",
			"qop": "auth", "nc": "00000001", "cnonce": "c",
			"response": digestResponse(sha256.New, "admin", Realm, "s3cret", "GET", "/snapshot.jpg", nonce, "00000001", "c"),
		}
	}
	if ok, _ := d.checkDigest("GET", "/snapshot.jpg", params()); !ok {
		t.Fatal("fresh digest refused")
	}
	if ok, _ := d.checkDigest("GET", "/other", params()); ok {
		t.Error("digest for another URI accepted")
	}
	forged := params()
	forged["nonce"] = strings.ToUpper(nonce[:1]) + nonce[1:] + "x"
	if ok, _ := d.checkDigest("GET", "/snapshot.jpg", forged); ok {
		t.Error("a nonce we did not make accepted")
	}
	now = now.Add(DigestNonceLifetime + time.Second)
	if ok, stale := d.checkDigest("GET", "/snapshot.jpg", params()); ok || !stale {
		t.Errorf("expired nonce: ok=%v stale=%v, want refused as stale", ok, stale)
	}
}

// TestProtectCurl fetches the protected JPEG with a real HTTP client, curl: Digest (curl
// picks among the challenges), Basic, wrong password, none.
func TestProtectCurl(t *testing.T) {
	peers.Require(t, "curl")
	srv := startNode(t, testService(t))
	curl := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		args = append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code}"}, append(args, srv.URL+"/snapshot.jpg")...)
		out, err := exec.CommandContext(ctx, "curl", args...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		return string(out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--digest", "-u", "admin:s3cret"}, "200"},
		{[]string{"--basic", "-u", "admin:s3cret"}, "200"},
		{[]string{"--anyauth", "-u", "admin:s3cret"}, "200"},
		{[]string{"--digest", "-u", "admin:wrong"}, "401"},
		{[]string{"--basic", "-u", "admin:wrong"}, "401"},
		{nil, "401"},
	} {
		if got := curl(tc.args...); got != tc.want {
			t.Errorf("curl %v: %s, want %s", tc.args, got, tc.want)
		}
	}
}

// Without credentials configured, Protect is a no-op.
func TestProtectOpen(t *testing.T) {
	s := New(Options{})
	h := s.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(fakeJPEG) }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/snapshot.jpg", nil))
	if w.Code != 200 {
		t.Errorf("open snapshot: %d", w.Code)
	}
}
