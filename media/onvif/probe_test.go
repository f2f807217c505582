package onvif

import (
	"encoding/xml"
	"testing"
)

// nodeOnvifProbe is the Probe node-onvif 0.1.7 multicasts (its startProbe template).
const nodeOnvifProbe = `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action><a:MessageID>uuid:0b4f6d1a-0c2e-4f0e-9a53-1c2d3e4f5a6b</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header><s:Body><Probe xmlns="http://schemas.xmlsoap.org/ws/2005/04/discovery"><d:Types xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dp0="http://www.onvif.org/ver10/network/wsdl">dp0:NetworkVideoTransmitter</d:Types></Probe></s:Body></s:Envelope>`

// wsdiscoveryProbe is shaped like the Probe Home Assistant's config flow asks its
// WS-Discovery library for (a search by the Profile S scope, no type); written by hand.
const wsdiscoveryProbe = `<?xml version="1.0" ?><s:Envelope xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action><a:MessageID>urn:uuid:5a1f7d0e-3c1b-4a55-8f4e-2d6c9b0a1e77</a:MessageID><a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header><s:Body><d:Probe><d:Scopes>onvif://www.onvif.org/Profile/Streaming</d:Scopes></d:Probe></s:Body></s:Envelope>`

func TestProbeMatching(t *testing.T) {
	d := &Discovery{o: DiscoveryOptions{Device: discoveryDevice}}
	probe := func(types, scopes, matchBy string) string {
		m := ""
		if matchBy != "" {
			m = ` MatchBy="` + matchBy + `"`
		}
		return `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:x="urn:other"><s:Header><a:MessageID>urn:uuid:1</a:MessageID></s:Header><s:Body><d:Probe><d:Types>` + types + `</d:Types><d:Scopes` + m + `>` + scopes + `</d:Scopes></d:Probe></s:Body></s:Envelope>`
	}
	tests := []struct {
		name, body string
		match      bool
	}{
		{"node-onvif", nodeOnvifProbe, true},
		{"Home Assistant", wsdiscoveryProbe, true},
		{"anything", probe("", "", ""), true},
		{"NVT", probe("dn:NetworkVideoTransmitter", "", ""), true},
		{"undeclared prefix", probe("tdn:NetworkVideoTransmitter", "", ""), true},
		{"another namespace", probe("x:NetworkVideoTransmitter", "", ""), false},
		{"a printer", probe("dn:Printer", "", ""), false},
		{"scope prefix", probe("", "onvif://www.onvif.org/type", ""), true},
		{"scope case of the host", probe("", "ONVIF://WWW.ONVIF.ORG/Profile/Streaming", ""), true},
		{"scope partial segment", probe("", "onvif://www.onvif.org/Profile/Stream", ""), false},
		{"name scope", probe("", "onvif://www.onvif.org/name/Kitchen_cam", ""), true},
		{"other profile", probe("", "onvif://www.onvif.org/Profile/G", ""), false},
		{"strcmp exact", probe("", "onvif://www.onvif.org/Profile/Streaming", matchStrcmp), true},
		{"strcmp prefix", probe("", "onvif://www.onvif.org/Profile", matchStrcmp), false},
		{"unknown MatchBy", probe("", "onvif://www.onvif.org/Profile/Streaming", "urn:ldap"), false},
	}
	for _, tc := range tests {
		p, err := parseProbe([]byte(tc.body))
		if err != nil || p == nil {
			t.Errorf("%s: not parsed as a probe: %v", tc.name, err)
			continue
		}
		if got := d.matches(p); got != tc.match {
			t.Errorf("%s: match %v, want %v (%+v)", tc.name, got, tc.match, p)
		}
	}
	if p, _ := parseProbe([]byte(nodeOnvifProbe)); p.MessageID != "uuid:0b4f6d1a-0c2e-4f0e-9a53-1c2d3e4f5a6b" {
		t.Errorf("MessageID %q", p.MessageID)
	}
	hello := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Body><d:Hello/></s:Body></s:Envelope>`
	if p, err := parseProbe([]byte(hello)); p != nil || err != nil {
		t.Errorf("a Hello read as a probe: %v %v", p, err)
	}
}

// The ProbeMatches answer relates to the probe and carries what a client lists.
func TestProbeMatchesMessage(t *testing.T) {
	d := &Discovery{o: DiscoveryOptions{Device: discoveryDevice, XAddrs: discoveryXAddrs}, endpoint: endpointURN(discoveryDevice)}
	b := d.probeMatches(&link{local: []byte{10, 0, 0, 5}}, "urn:uuid:1")
	var m wsdMessage
	if err := xml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	pm := m.Body.Inner[0].Match
	if m.Header.RelatesTo != "urn:uuid:1" || pm.Address != d.endpoint || pm.XAddrs != "http://10.0.0.5:8080/onvif/device_service" ||
		pm.Types != "dn:NetworkVideoTransmitter tds:Device" {
		t.Errorf("ProbeMatches = %+v %+v\n%s", m.Header, pm, b)
	}
	if endpointURN(discoveryDevice) != endpointURN(discoveryDevice) || len(endpointURN(discoveryDevice)) != len("urn:uuid:")+36 {
		t.Errorf("endpoint %s", endpointURN(discoveryDevice))
	}
}
