package onvif

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// The requests under testdata/requests are zeep 4.2.1's bytes with the WS-Addressing headers
// onvif-zeep-async adds, recorded (toward 127.0.0.1:9, nothing listening) with a fixed
// nonce ("0123456789abcdef") and Created (2026-12-07T22:00:00Z) for admin / s3cret.
var zeepCreated = time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)

func readRequest(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/requests/" + name + ".xml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post sends body to the service at path and returns the status and the parsed answer.
func post(t *testing.T, s *Service, path, host, body string) (int, soapAnswer, string) {
	t.Helper()
	mux := http.NewServeMux()
	s.Register(mux)
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Host = host
	// What net/http sets on a real connection: the address the client reached.
	local := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1234}
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, local))
	r.Header.Set("Content-Type", "application/soap+xml")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	var a soapAnswer
	if err := xml.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatalf("answer is not XML: %v\n%s", err, w.Body.String())
	}
	if a.XMLName.Space != nsEnv || a.XMLName.Local != "Envelope" {
		t.Fatalf("answer is not a SOAP 1.2 envelope: %s", w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/soap+xml") {
		t.Errorf("Content-Type = %q", ct)
	}
	return w.Code, a, w.Body.String()
}

// soapAnswer is what a client reads of an answer: the Body's element, or the fault.
type soapAnswer struct {
	XMLName xml.Name
	Body    struct {
		Inner []struct {
			XMLName xml.Name
		} `xml:",any"`
		Fault *struct {
			Code struct {
				Value   string `xml:"Value"`
				Subcode struct {
					Value   string `xml:"Value"`
					Subcode struct {
						Value string `xml:"Value"`
					} `xml:"Subcode"`
				} `xml:"Subcode"`
			} `xml:"Code"`
			Reason string `xml:"Reason>Text"`
		} `xml:"http://www.w3.org/2003/05/soap-envelope Fault"`
	} `xml:"Body"`
}

func (a soapAnswer) element() string {
	if len(a.Body.Inner) == 0 {
		return ""
	}
	return a.Body.Inner[0].XMLName.Local
}

func (a soapAnswer) faultCodes() string {
	f := a.Body.Fault
	if f == nil {
		return ""
	}
	return strings.Trim(f.Code.Value+" "+f.Code.Subcode.Value+" "+f.Code.Subcode.Subcode.Value, " ")
}

func serviceAt(t *testing.T, now time.Time) *Service {
	s := testService(t)
	s.opts.Now = func() time.Time { return now }
	s.digest.now = s.opts.Now
	return s
}

func TestZeepRequests(t *testing.T) {
	at := zeepCreated.Add(30 * time.Second)
	tests := []struct {
		file, path string
		status     int
		element    string // the answer's Body element
		fault      string // or its fault codes
		contains   string // and a piece of the answer
	}{
		{"zeep-GetSystemDateAndTime-authless", DevicePath, 200, "GetSystemDateAndTimeResponse", "", "<tt:Hour>22</tt:Hour><tt:Minute>0</tt:Minute><tt:Second>30</tt:Second>"},
		{"zeep-GetServices", DevicePath, 200, "GetServicesResponse", "", "<tds:XAddr>http://192.168.1.20:8080/onvif/media_service</tds:XAddr>"},
		{"zeep-GetCapabilities", DevicePath, 200, "GetCapabilitiesResponse", "", "<tt:Media><tt:XAddr>http://192.168.1.20:8080/onvif/media_service</tt:XAddr>"},
		{"zeep-GetDeviceInformation", DevicePath, 200, "GetDeviceInformationResponse", "", "<tds:SerialNumber>node-7</tds:SerialNumber>"},
		{"zeep-GetNetworkInterfaces", DevicePath, 200, "GetNetworkInterfacesResponse", "", "<tt:HwAddress>" + StableMAC("node-7").String() + "</tt:HwAddress>"},
		{"zeep-GetHostname", DevicePath, 500, "", "env:Receiver ter:ActionNotSupported", "Optional Action Not Implemented"},
		{"zeep-GetProfiles", MediaPath, 200, "GetProfilesResponse", "", "<tt:Resolution><tt:Width>1280</tt:Width><tt:Height>720</tt:Height></tt:Resolution>"},
		{"zeep-GetStreamUri", MediaPath, 200, "GetStreamUriResponse", "", "<tt:Uri>rtsp://192.168.1.20:8554/live</tt:Uri>"},
		{"zeep-GetSnapshotUri", MediaPath, 200, "GetSnapshotUriResponse", "", "<tt:Uri>http://192.168.1.20:8080/snapshot.jpg</tt:Uri>"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			s := serviceAt(t, at)
			status, a, raw := post(t, s, tc.path, "192.168.1.20:8080", string(readRequest(t, tc.file)))
			if status != tc.status || a.element() != tc.element && tc.element != "" || a.faultCodes() != tc.fault {
				t.Errorf("status %d element %q fault %q, want %d %q %q\n%s", status, a.element(), a.faultCodes(), tc.status, tc.element, tc.fault, raw)
			}
			if !strings.Contains(raw, tc.contains) {
				t.Errorf("answer lacks %s:\n%s", tc.contains, raw)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	at := zeepCreated.Add(30 * time.Second)
	signed := string(readRequest(t, "zeep-GetDeviceInformation"))
	tokenXML := func(user, password, typ, nonce, created string) string {
		return `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>` +
			`<Security xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" s:mustUnderstand="1">` +
			`<UsernameToken><Username>` + user + `</Username><Password Type="` + typ + `">` + password + `</Password>` +
			`<Nonce>` + nonce + `</Nonce><Created xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">` + created + `</Created>` +
			`</UsernameToken></Security></s:Header><s:Body><GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>`
	}
	nonce := base64.StdEncoding.EncodeToString([]byte("another nonce 16"))
	created := at.Format(time.RFC3339)
	digest := passwordDigestOf([]byte("another nonce 16"), created, "s3cret")
	unsigned := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>`
	tests := []struct {
		name string
		now  time.Time
		body string
		ok   bool
	}{
		{"zeep digest", at, signed, true},
		{"zeep digest, Created 4 min ahead of our clock", zeepCreated.Add(-4 * time.Minute), signed, true},
		{"zeep digest, Created 6 min old", zeepCreated.Add(6 * time.Minute), signed, false},
		{"zeep digest, Created 6 min ahead", zeepCreated.Add(-6 * time.Minute), signed, false},
		{"no token", at, unsigned, false},
		{"node-onvif style digest", at, tokenXML("admin", digest, passwordDigest, nonce, created), true},
		{"digest of a wrong password", at, tokenXML("admin", passwordDigestOf([]byte("another nonce 16"), created, "s3cre"), passwordDigest, nonce, created), false},
		{"digest, wrong user", at, tokenXML("root", digest, passwordDigest, nonce, created), false},
		{"digest, no nonce", at, tokenXML("admin", digest, passwordDigest, "", created), false},
		{"digest, nonce not base64", at, tokenXML("admin", digest, passwordDigest, "!!", created), false},
		{"digest, Created not a time", at, tokenXML("admin", digest, passwordDigest, nonce, "yesterday"), false},
		{"password text", at, tokenXML("admin", "s3cret", passwordText, "", ""), true},
		{"password text, wrong", at, tokenXML("admin", "secret", passwordText, "", ""), false},
		{"password text sent as digest", at, tokenXML("admin", "s3cret", passwordDigest, nonce, created), false},
		{"unknown password type", at, tokenXML("admin", "s3cret", "urn:x", "", ""), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := serviceAt(t, tc.now)
			status, a, raw := post(t, s, DevicePath, "127.0.0.1:8080", tc.body)
			if tc.ok && (status != 200 || a.element() != "GetDeviceInformationResponse") {
				t.Errorf("refused: %d\n%s", status, raw)
			}
			if !tc.ok && (status != 400 || a.faultCodes() != "env:Sender ter:NotAuthorized") {
				t.Errorf("not refused as NotAuthorized: %d %q\n%s", status, a.faultCodes(), raw)
			}
		})
	}
}

// TestPreAuth: what a client needs before it can sign is answered without credentials, and
// with wrong ones; the rest is not.
func TestPreAuth(t *testing.T) {
	s := serviceAt(t, zeepCreated)
	for op, want := range map[string]bool{
		"tds:GetSystemDateAndTime": true, "tds:GetCapabilities": true, "tds:GetServices": true,
		"tds:GetServiceCapabilities": true, "trt:GetServiceCapabilities": true,
		"tds:GetDeviceInformation": false, "tds:GetNetworkInterfaces": false, "tds:GetScopes": false,
		"trt:GetProfiles": false, "trt:GetStreamUri": false, "trt:GetSnapshotUri": false,
	} {
		body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="` + nsTDS + `" xmlns:trt="` + nsTRT + `">` +
			`<s:Body><` + op + `><trt:ProfileToken>main</trt:ProfileToken></` + op + `></s:Body></s:Envelope>`
		status, a, raw := post(t, s, DevicePath, "127.0.0.1", body)
		if got := status == 200; got != want {
			t.Errorf("%s without credentials: status %d %q, want answered=%v\n%s", op, status, a.faultCodes(), want, raw)
		}
	}
}

func TestReplayedNonce(t *testing.T) {
	s := serviceAt(t, zeepCreated.Add(time.Second))
	body := string(readRequest(t, "zeep-GetDeviceInformation"))
	if status, _, raw := post(t, s, DevicePath, "127.0.0.1", body); status != 200 {
		t.Fatalf("first use refused: %s", raw)
	}
	status, a, _ := post(t, s, DevicePath, "127.0.0.1", body)
	if status != 400 || a.faultCodes() != "env:Sender ter:NotAuthorized" {
		t.Errorf("replay: %d %q, want the NotAuthorized fault", status, a.faultCodes())
	}
}

func TestNonceCacheBounded(t *testing.T) {
	c := newNonceCache(8)
	now := zeepCreated
	for i := range 100 {
		if !c.add(string(rune('a'+i%26))+string(rune(i)), now) {
			t.Fatalf("fresh nonce %d refused", i)
		}
	}
	if c.len() != 8 {
		t.Errorf("cache holds %d nonces, want at most 8", c.len())
	}
	if !c.add("x", now) || c.add("x", now.Add(MaxClockSkew)) {
		t.Error("a nonce repeated within the window was accepted")
	}
	if !c.add("x", now.Add(MaxClockSkew+time.Second)) {
		t.Error("a nonce repeated after the window was refused")
	}
}

func TestMalformedRequests(t *testing.T) {
	s := serviceAt(t, zeepCreated)
	tests := []struct {
		name, body string
		status     int
		fault      string
	}{
		{"empty", "", 400, "env:Sender ter:WellFormed"},
		{"not XML", "GET / HTTP/1.1", 400, "env:Sender ter:WellFormed"},
		{"truncated", `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetScopes`, 400, "env:Sender ter:WellFormed"},
		{"SOAP 1.1", `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetScopes xmlns="` + nsTDS + `"/></s:Body></s:Envelope>`, 500, "env:VersionMismatch"},
		{"no body", `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"></s:Envelope>`, 400, "env:Sender ter:WellFormed"},
		{"two operations", `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetScopes xmlns="` + nsTDS + `"/><GetScopes xmlns="` + nsTDS + `"/></s:Body></s:Envelope>`, 400, "env:Sender ter:WellFormed"},
		{"not an envelope", `<Envelope/>`, 400, "env:Sender ter:WellFormed"},
		{"entity", `<!DOCTYPE x [<!ENTITY a "aaaa">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetScopes xmlns="` + nsTDS + `">&a;</GetScopes></s:Body></s:Envelope>`, 400, "env:Sender ter:WellFormed"},
		{"unknown operation", `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><CreatePullPointSubscription xmlns="http://www.onvif.org/ver10/events/wsdl"/></s:Body></s:Envelope>`, 500, "env:Receiver ter:ActionNotSupported"},
		{"oversized", `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetScopes xmlns="` + nsTDS + `">` + strings.Repeat("x", MaxRequestSize) + `</GetScopes></s:Body></s:Envelope>`, 413, "env:Sender ter:WellFormed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, a, raw := post(t, s, DevicePath, "127.0.0.1", tc.body)
			if status != tc.status || a.faultCodes() != tc.fault {
				t.Errorf("status %d fault %q, want %d %q\n%s", status, a.faultCodes(), tc.status, tc.fault, raw)
			}
		})
	}
}

func TestProfileTokenChecked(t *testing.T) {
	s := serviceAt(t, zeepCreated)
	s.opts.Username, s.opts.Password = "", "" // no auth: only the token matters here
	body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetStreamUri xmlns="` + nsTRT + `"><ProfileToken>other</ProfileToken></GetStreamUri></s:Body></s:Envelope>`
	status, a, _ := post(t, s, MediaPath, "127.0.0.1", body)
	if status != 400 || a.faultCodes() != "env:Sender ter:InvalidArgVal ter:NoProfile" {
		t.Errorf("unknown profile: %d %q", status, a.faultCodes())
	}
}

func TestNoAudioNoAudioEncoder(t *testing.T) {
	s := serviceAt(t, zeepCreated)
	s.opts.Username, s.opts.Password = "", ""
	s.opts.Media = func() (Video, *Audio) {
		return Video{Width: 640, Height: 480, FPS: 29.97, BitrateKbps: 800, GOVLength: 30}, nil
	}
	body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetProfiles xmlns="` + nsTRT + `"/></s:Body></s:Envelope>`
	_, _, raw := post(t, s, MediaPath, "127.0.0.1", body)
	for _, want := range []string{"<tt:Width>640</tt:Width>", "<tt:FrameRateLimit>30</tt:FrameRateLimit>", "<tt:BitrateLimit>800</tt:BitrateLimit>", "<tt:H264Profile>Main</tt:H264Profile>"} {
		if !strings.Contains(raw, want) {
			t.Errorf("GetProfiles lacks %s", want)
		}
	}
	if strings.Contains(raw, "AudioEncoderConfiguration") {
		t.Error("GetProfiles describes audio the stream has not")
	}
}

func TestXAddrHost(t *testing.T) {
	s := serviceAt(t, zeepCreated)
	body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetServices xmlns="` + nsTDS + `"><IncludeCapability>true</IncludeCapability></GetServices></s:Body></s:Envelope>`
	for host, want := range map[string]string{
		"192.168.1.20:8080": "http://192.168.1.20:8080/onvif/device_service",
		"[fe80::1]:8080":    "http://[fe80::1]:8080/onvif/device_service",
		"camnode.local":     "http://camnode.local/onvif/device_service",
		"evil/x@y":          "http://192.0.2.1:1234/onvif/device_service", // httptest's local address
	} {
		_, _, raw := post(t, s, DevicePath, host, body)
		if !strings.Contains(raw, "<tds:XAddr>"+want+"</tds:XAddr>") {
			t.Errorf("Host %q: want XAddr %s in\n%s", host, want, raw)
		}
	}
}

func TestStableMAC(t *testing.T) {
	a, b := StableMAC("node-7"), StableMAC("node-7")
	if a.String() != b.String() || len(a) != 6 {
		t.Fatalf("StableMAC not stable: %s %s", a, b)
	}
	if a[0]&0x02 == 0 || a[0]&0x01 != 0 {
		t.Errorf("%s is not a locally administered unicast address", a)
	}
	if StableMAC("node-8").String() == a.String() {
		t.Error("two node ids give one MAC")
	}
}

// TestAnswersNotChunked: every answer carries a Content-Length, GetProfiles' (over 2 KiB)
// too, so HTTP/1.0-minded clients read it.
func TestAnswersNotChunked(t *testing.T) {
	srv := startNode(t, testService(t))
	body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><Security xmlns="` + nsWSSE + `"><UsernameToken><Username>admin</Username><Password>s3cret</Password></UsernameToken></Security></s:Header><s:Body><GetProfiles xmlns="` + nsTRT + `"/></s:Body></s:Envelope>`
	resp, err := http.Post(srv.URL+MediaPath, "application/soap+xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || len(b) < 2048 {
		t.Fatalf("GetProfiles: %d, %d bytes", resp.StatusCode, len(b))
	}
	if len(resp.TransferEncoding) != 0 || resp.ContentLength != int64(len(b)) {
		t.Errorf("GetProfiles sent with Transfer-Encoding %v, Content-Length %d (body %d bytes)", resp.TransferEncoding, resp.ContentLength, len(b))
	}
}
