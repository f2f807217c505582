package onvif

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// The namespaces of the subset served here.
const (
	nsEnv    = "http://www.w3.org/2003/05/soap-envelope" // SOAP 1.2, what ONVIF binds to
	nsSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	nsWSSE   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsTDS    = "http://www.onvif.org/ver10/device/wsdl"
	nsTRT    = "http://www.onvif.org/ver10/media/wsdl"
	nsTT     = "http://www.onvif.org/ver10/schema"
	nsTER    = "http://www.onvif.org/ver10/error"

	passwordDigest = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	passwordText   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
)

// MaxRequestSize bounds a SOAP request body: the largest request of this subset (a
// GetStreamUri with a WS-UsernameToken) is under 2 KiB.
const MaxRequestSize = 64 << 10

// request is what a SOAP request says, as far as this subset reads it.
type request struct {
	Operation xml.Name       // the Body's child element: namespace and operation name
	Token     *usernameToken // the WS-Security UsernameToken, nil when absent
	// Parameters of the operations that have one.
	ProfileToken string // GetProfile, GetStreamUri, GetSnapshotUri
	Category     string // GetCapabilities (the first one)
	Include      bool   // GetServices' IncludeCapability
}

// usernameToken is a WS-Security UsernameToken as sent:
//
//	<wsse:UsernameToken><wsse:Username>admin</wsse:Username>
//	  <wsse:Password Type="...#PasswordDigest">Base64(SHA1(nonce+created+password))</wsse:Password>
//	  <wsse:Nonce EncodingType="...#Base64Binary">Base64(nonce)</wsse:Nonce>
//	  <wsu:Created>2026-12-07T22:00:00Z</wsu:Created></wsse:UsernameToken>
type usernameToken struct {
	Username string `xml:"Username"`
	Password struct {
		Type  string `xml:"Type,attr"`
		Value string `xml:",chardata"`
	} `xml:"Password"`
	Nonce   string `xml:"Nonce"`
	Created string `xml:"Created"` // wsu:Created; some clients put it in the wsse namespace
}

// envelopeIn is the SOAP 1.2 envelope as decoded. Element names without a namespace in the
// tags match any namespace; the envelope's namespace is checked after decoding.
type envelopeIn struct {
	XMLName xml.Name
	Header  struct {
		Security []struct {
			XMLName xml.Name
			Tokens  []usernameToken `xml:"UsernameToken"`
		} `xml:"Security"`
	} `xml:"Header"`
	Body struct {
		XMLName xml.Name
		Ops     []operationIn `xml:",any"`
	} `xml:"Body"`
}

type operationIn struct {
	XMLName           xml.Name
	ProfileToken      string   `xml:"ProfileToken"`
	Category          []string `xml:"Category"`
	IncludeCapability bool     `xml:"IncludeCapability"`
}

// errVersion is a well-formed envelope of another SOAP version.
var errVersion = errors.New("not a SOAP 1.2 envelope")

// parseRequest reads a SOAP 1.2 request. It fails on what is not well-formed XML, not a
// SOAP 1.2 envelope (errVersion), or has not exactly one operation in its Body.
func parseRequest(b []byte) (request, error) {
	var env envelopeIn
	d := xml.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&env); err != nil {
		return request{}, fmt.Errorf("malformed envelope: %w", err)
	}
	if env.XMLName.Local != "Envelope" {
		return request{}, fmt.Errorf("root element is %s, not Envelope", env.XMLName.Local)
	}
	if env.XMLName.Space == nsSOAP11 {
		return request{}, errVersion
	}
	if env.XMLName.Space != nsEnv {
		return request{}, fmt.Errorf("envelope namespace %q is not SOAP 1.2", env.XMLName.Space)
	}
	if env.Body.XMLName.Space != nsEnv {
		return request{}, errors.New("no SOAP 1.2 Body")
	}
	if len(env.Body.Ops) != 1 {
		return request{}, fmt.Errorf("Body has %d operations, want 1", len(env.Body.Ops))
	}
	op := env.Body.Ops[0]
	r := request{Operation: op.XMLName, ProfileToken: op.ProfileToken, Include: op.IncludeCapability}
	if len(op.Category) > 0 {
		r.Category = op.Category[0]
	}
	for _, sec := range env.Header.Security {
		if sec.XMLName.Space != nsWSSE {
			continue
		}
		if len(sec.Tokens) > 0 {
			t := sec.Tokens[0]
			r.Token = &t
			break
		}
	}
	return r, nil
}

// envelopeOut wraps a response body. Element and attribute names carry their prefix
// literally (encoding/xml writes a tag without a space as is), bound here once, so the
// output reads like a camera's: <tds:...>, <tt:...>, <trt:...>.
type envelopeOut struct {
	XMLName xml.Name `xml:"env:Envelope"`
	Env     string   `xml:"xmlns:env,attr"`
	TDS     string   `xml:"xmlns:tds,attr"`
	TRT     string   `xml:"xmlns:trt,attr"`
	TT      string   `xml:"xmlns:tt,attr"`
	TER     string   `xml:"xmlns:ter,attr"`
	Body    struct {
		Content any
	} `xml:"env:Body"`
}

func marshalEnvelope(content any) ([]byte, error) {
	env := envelopeOut{Env: nsEnv, TDS: nsTDS, TRT: nsTRT, TT: nsTT, TER: nsTER}
	env.Body.Content = content
	b, err := xml.Marshal(env)
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}

func writeEnvelope(w http.ResponseWriter, status int, content any) {
	b, err := marshalEnvelope(content)
	if err != nil { // a bug in a response type; say so as a fault rather than half a document
		b, _ = marshalEnvelope(newFault(faultReceiver, "ter:Action", "internal error"))
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", `application/soap+xml; charset=utf-8`)
	// An explicit length: net/http would otherwise send an answer over 2 KiB (GetProfiles)
	// chunked, which the small HTTP clients of some NVRs do not read.
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// The SOAP 1.2 fault codes (env:Value).
const (
	faultSender          = "env:Sender"
	faultReceiver        = "env:Receiver"
	faultVersionMismatch = "env:VersionMismatch"
)

// fault is a SOAP 1.2 Fault with ONVIF's ter: subcodes:
//
//	<env:Fault><env:Code><env:Value>env:Sender</env:Value>
//	  <env:Subcode><env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code>
//	  <env:Reason><env:Text xml:lang="en">...</env:Text></env:Reason></env:Fault>
type fault struct {
	XMLName xml.Name `xml:"env:Fault"`
	Code    struct {
		Value   string        `xml:"env:Value"`
		Subcode *faultSubcode `xml:"env:Subcode,omitempty"`
	} `xml:"env:Code"`
	Reason struct {
		Text struct {
			Lang  string `xml:"xml:lang,attr"`
			Value string `xml:",chardata"`
		} `xml:"env:Text"`
	} `xml:"env:Reason"`
}

type faultSubcode struct {
	Value   string        `xml:"env:Value"`
	Subcode *faultSubcode `xml:"env:Subcode,omitempty"`
}

// newFault builds a fault with code and a chain of subcodes (outermost first).
func newFault(code string, subcodes ...string) *fault {
	reason := ""
	if n := len(subcodes); n > 0 {
		reason = subcodes[n-1]
		subcodes = subcodes[:n-1]
	}
	f := &fault{}
	f.Code.Value = code
	next := &f.Code.Subcode
	for _, s := range subcodes {
		*next = &faultSubcode{Value: s}
		next = &(*next).Subcode
	}
	f.Reason.Text.Lang = "en"
	f.Reason.Text.Value = reason
	return f
}

// httpStatus is the status SOAP 1.2's HTTP binding gives a fault: 400 for the sender's,
// 500 for the receiver's.
func (f *fault) httpStatus() int {
	if f.Code.Value == faultSender {
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// The faults this package answers.
func faultNotAuthorized() *fault {
	return newFault(faultSender, "ter:NotAuthorized", "Sender not Authorized")
}

// faultActionNotSupported: "Optional Action Not Implemented" is the ONVIF Core wording, and
// Home Assistant looks for it to tell a missing PTZ action from a failure.
func faultActionNotSupported() *fault {
	return newFault(faultReceiver, "ter:ActionNotSupported", "Optional Action Not Implemented")
}

func faultMalformed(why string) *fault {
	return newFault(faultSender, "ter:WellFormed", "Well-formed Error: "+why)
}

func faultNoProfile() *fault {
	return newFault(faultSender, "ter:InvalidArgVal", "ter:NoProfile", "The requested profile token does not exist")
}

func faultNoSuchService() *fault {
	return newFault(faultReceiver, "ter:ActionNotSupported", "ter:NoSuchService", "The requested WSDL service category is not supported")
}
