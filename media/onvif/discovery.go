package onvif

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// WS-Discovery (the 2005/04 draft ONVIF uses) on UDP 3702, multicast group 239.255.255.250.
const (
	DiscoveryPort = 3702
	nsDiscovery   = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
	nsAddressing  = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsNetwork     = "http://www.onvif.org/ver10/network/wsdl" // dn:NetworkVideoTransmitter

	discoveryTo   = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
	anonymousRole = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
	matchRFC3986  = "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986"
	matchStrcmp   = "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0"

	// maxDatagram bounds what is read of a datagram; a Probe is well under 2 KiB.
	maxDatagram = 16 << 10
)

var discoveryGroup = net.IPv4(239, 255, 255, 250)

// The types this device answers to, as QNames.
var deviceTypes = []xml.Name{{Space: nsNetwork, Local: "NetworkVideoTransmitter"}, {Space: nsTDS, Local: "Device"}}

// DiscoveryOptions configure a Discovery.
type DiscoveryOptions struct {
	Device Device
	// XAddrs returns the device service URLs for a client reaching the node through the
	// interface whose address is local.
	XAddrs func(local net.IP) []string
	// Addrs are the addresses the HTTP listener is bound to: the node answers and announces
	// only on their interfaces; an unspecified address (0.0.0.0, ::) means every interface
	// that is up and multicast-capable, as does an empty list. IPv6 addresses are skipped
	// (IPv4 discovery only).
	Addrs  []net.IP
	Port   int          // 0: DiscoveryPort; tests use another
	Logger *slog.Logger // nil: discard
}

// Discovery answers WS-Discovery Probes and announces the node with Hello and Bye.
type Discovery struct {
	o        DiscoveryOptions
	log      *slog.Logger
	links    []*link
	endpoint string // urn:uuid:..., stable for the device
	instance uint32 // AppSequence InstanceId: changes at every start
	msgNum   atomic.Uint32
}

// link is the socket of one interface: bound to the discovery port, a member of the group
// on that interface only.
type link struct {
	ifi   *net.Interface
	local net.IP
	conn  *net.UDPConn
}

// NewDiscovery binds the discovery port on the interfaces of o.Addrs and joins the group
// there; it sends nothing until Run.
func NewDiscovery(o DiscoveryOptions) (*Discovery, error) {
	if o.Port == 0 {
		o.Port = DiscoveryPort
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.XAddrs == nil {
		return nil, errors.New("onvif: discovery: no XAddrs function")
	}
	addrs := o.Addrs
	if len(addrs) == 0 {
		addrs = []net.IP{net.IPv4zero}
	}
	ifaces, err := discoveryInterfaces(addrs)
	if err != nil {
		return nil, err
	}
	d := &Discovery{o: o, log: log, endpoint: endpointURN(o.Device)}
	d.instance = uint32(time.Now().Unix()) // WS-Discovery: larger at every start
	for _, l := range ifaces {
		conn, err := listenGroup(l.ifi, o.Port)
		if err != nil {
			d.closeLinks()
			return nil, fmt.Errorf("onvif: discovery: listen udp :%d on %s: %w", o.Port, l.ifi.Name, err)
		}
		l.conn = conn
		d.links = append(d.links, l)
	}
	return d, nil
}

// discoveryInterfaces maps the listener's addresses to interfaces and the IPv4 address to
// announce on each.
func discoveryInterfaces(addrs []net.IP) ([]*link, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("onvif: discovery: list interfaces: %w", err)
	}
	var links []*link
	seen := map[int]bool{}
	add := func(ifi net.Interface, ip net.IP) {
		if !seen[ifi.Index] {
			seen[ifi.Index] = true
			links = append(links, &link{ifi: &ifi, local: ip})
		}
	}
	for _, a := range addrs {
		if a.To4() == nil && !a.IsUnspecified() {
			continue
		}
		for _, ifi := range all {
			if ifi.Flags&net.FlagUp == 0 {
				continue
			}
			ip := ifaceIPv4(ifi, a)
			if ip == nil {
				continue
			}
			if a.IsUnspecified() && (ifi.Flags&net.FlagMulticast == 0 || ifi.Flags&net.FlagLoopback != 0) {
				continue // all interfaces: those a LAN client can reach by multicast
			}
			add(ifi, ip)
		}
	}
	if len(links) == 0 {
		return nil, fmt.Errorf("onvif: discovery: no up IPv4 interface holds %v", addrs)
	}
	return links, nil
}

// ifaceIPv4 is the interface's IPv4 address equal to want, or its first when want is
// unspecified; nil when it has none.
func ifaceIPv4(ifi net.Interface, want net.IP) net.IP {
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.To4() == nil {
			continue
		}
		if want.IsUnspecified() || n.IP.Equal(want) {
			return n.IP.To4()
		}
	}
	return nil
}

// listenGroup binds 0.0.0.0:port (shared with the other interfaces' sockets and other
// discovery agents on the host) and joins the group on ifi alone: IP_MULTICAST_ALL off makes
// the socket receive only the memberships it joined, so a Probe is answered on the
// interface it came in on.
func listenGroup(ifi *net.Interface, port int) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", ":"+strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	conn := pc.(*net.UDPConn)
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		mreq := &unix.IPMreqn{Ifindex: int32(ifi.Index)}
		copy(mreq.Multiaddr[:], discoveryGroup.To4())
		if serr = unix.SetsockoptIPMreqn(int(fd), unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); serr != nil {
			serr = fmt.Errorf("join %v: %w", discoveryGroup, serr)
			return
		}
		if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0); serr != nil {
			return
		}
		out := &unix.IPMreqn{Ifindex: int32(ifi.Index)}
		if serr = unix.SetsockoptIPMreqn(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_IF, out); serr != nil {
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 1)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func (d *Discovery) closeLinks() {
	for _, l := range d.links {
		if l.conn != nil {
			l.conn.Close()
		}
	}
}

// Run sends Hello on every interface, answers Probes (a ProbeMatches by unicast to the
// sender) until ctx ends, then sends Bye and closes the sockets. It returns when every
// goroutine it started has ended.
func (d *Discovery) Run(ctx context.Context) error {
	group := &net.UDPAddr{IP: discoveryGroup, Port: d.o.Port}
	for _, l := range d.links {
		if _, err := l.conn.WriteToUDP(d.hello(l, "Hello"), group); err != nil {
			d.log.Warn("onvif: discovery: Hello", "iface", l.ifi.Name, "err", err)
		}
	}
	var wg sync.WaitGroup
	for _, l := range d.links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.serve(l)
		}()
	}
	<-ctx.Done()
	for _, l := range d.links {
		if _, err := l.conn.WriteToUDP(d.hello(l, "Bye"), group); err != nil {
			d.log.Warn("onvif: discovery: Bye", "iface", l.ifi.Name, "err", err)
		}
	}
	d.closeLinks() // ends the readers
	wg.Wait()
	return nil
}

// serve reads one interface's socket until it is closed.
func (d *Discovery) serve(l *link) {
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := l.conn.ReadFromUDP(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				d.log.Warn("onvif: discovery: read", "iface", l.ifi.Name, "err", err)
			}
			return
		}
		p, err := parseProbe(buf[:n])
		if err != nil {
			d.log.Debug("onvif: discovery: not a probe", "from", from, "err", err)
			continue
		}
		if p == nil || !d.matches(p) {
			continue // another WS-Discovery message, or a probe for something else
		}
		if _, err := l.conn.WriteToUDP(d.probeMatches(l, p.MessageID), from); err != nil {
			d.log.Debug("onvif: discovery: ProbeMatches", "to", from, "err", err)
		}
	}
}

// probe is what a Probe asks for.
type probe struct {
	MessageID string
	Types     []xml.Name // resolved QNames; a prefix not in scope leaves Space empty
	Scopes    []string
	MatchBy   string
}

// parseProbe reads a SOAP 1.2 envelope; a nil probe (and nil error) when it is another
// message. Types are QNames in text, so the namespace declarations in scope are tracked.
func parseProbe(b []byte) (*probe, error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	var stack []map[string]string // prefix -> namespace, one per open element
	var path []string             // local names of the open elements
	var p probe
	isProbe := false
	var text strings.Builder
	resolve := func(prefix string) string {
		for i := len(stack) - 1; i >= 0; i-- {
			if ns, ok := stack[i][prefix]; ok {
				return ns
			}
		}
		return ""
	}
	for {
		tok, err := dec.RawToken() // raw: the prefixes are needed for Types
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(path) >= 16 {
				return nil, errors.New("nested too deep")
			}
			decl := map[string]string{}
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "xmlns":
					decl[a.Name.Local] = a.Value
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					decl[""] = a.Value
				}
			}
			stack = append(stack, decl)
			path = append(path, t.Name.Local)
			ns := resolve(t.Name.Space)
			if len(path) == 1 && (t.Name.Local != "Envelope" || ns != nsEnv) {
				return nil, errors.New("not a SOAP 1.2 envelope")
			}
			if len(path) == 3 && path[1] == "Body" && t.Name.Local == "Probe" && ns == nsDiscovery {
				isProbe = true
			}
			if t.Name.Local == "Scopes" {
				for _, a := range t.Attr {
					if a.Name.Local == "MatchBy" {
						p.MatchBy = strings.TrimSpace(a.Value)
					}
				}
			}
			text.Reset()
		case xml.CharData:
			if text.Len()+len(t) <= maxDatagram {
				text.Write(t)
			}
		case xml.EndElement:
			if len(path) == 0 {
				return nil, errors.New("unbalanced end element")
			}
			where := strings.Join(path, "/")
			switch {
			case where == "Envelope/Header/MessageID":
				p.MessageID = strings.TrimSpace(text.String())
			case where == "Envelope/Body/Probe/Types":
				for _, f := range strings.Fields(text.String()) {
					prefix, local, ok := strings.Cut(f, ":")
					if !ok {
						prefix, local = "", f
					}
					p.Types = append(p.Types, xml.Name{Space: resolve(prefix), Local: local})
				}
			case where == "Envelope/Body/Probe/Scopes":
				p.Scopes = strings.Fields(text.String())
			}
			stack, path = stack[:len(stack)-1], path[:len(path)-1]
			text.Reset()
		}
	}
	if !isProbe {
		return nil, nil
	}
	return &p, nil
}

// matches: every type asked for is one of ours (a type whose prefix was not declared is
// compared by its local name), and every scope asked for matches one of ours.
func (d *Discovery) matches(p *probe) bool {
	for _, t := range p.Types {
		ok := false
		for _, ours := range deviceTypes {
			if t.Local == ours.Local && (t.Space == "" || t.Space == ours.Space) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	haves := scopes(d.o.Device)
	for _, want := range p.Scopes {
		ok := false
		for _, have := range haves {
			if scopeMatches(p.MatchBy, want, have) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// scopeMatches compares by RFC 3986 (the default: the asked scope equals ours or is a
// prefix of it ending at a path segment; scheme and host case-insensitive) or strcmp0.
func scopeMatches(matchBy, want, have string) bool {
	switch matchBy {
	case "", matchRFC3986:
		w, h := strings.TrimSuffix(want, "/"), have
		if len(h) < len(w) {
			return false
		}
		// onvif://www.onvif.org is the same in any case; the path is compared exactly.
		if !strings.EqualFold(schemeHost(w), schemeHost(h)) {
			return false
		}
		wp, hp := w[len(schemeHost(w)):], h[len(schemeHost(h)):]
		return hp == wp || strings.HasPrefix(hp, wp+"/")
	case matchStrcmp:
		return want == have
	}
	return false
}

func schemeHost(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(u[i+3:], '/')
	if j < 0 {
		return u
	}
	return u[:i+3+j]
}

// endpointURN is the device's stable WS-Addressing endpoint: a name-based UUID of its serial
// and MAC, so a client sees the same device across restarts.
func endpointURN(dev Device) string {
	sum := sha1.Sum([]byte("camnode onvif endpoint\x00" + dev.Serial + "\x00" + dev.MAC.String()))
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func newMessageID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// discoveryEnvelope is a WS-Discovery message. Names carry their prefixes, bound on the
// envelope; d:Types holds QNames in those prefixes.
type discoveryEnvelope struct {
	XMLName xml.Name `xml:"s:Envelope"`
	S       string   `xml:"xmlns:s,attr"`
	A       string   `xml:"xmlns:a,attr"`
	D       string   `xml:"xmlns:d,attr"`
	DN      string   `xml:"xmlns:dn,attr"`
	TDS     string   `xml:"xmlns:tds,attr"`
	Header  struct {
		MessageID   string `xml:"a:MessageID"`
		RelatesTo   string `xml:"a:RelatesTo,omitempty"`
		To          string `xml:"a:To"`
		Action      string `xml:"a:Action"`
		AppSequence struct {
			InstanceID    uint32 `xml:"InstanceId,attr"`
			MessageNumber uint32 `xml:"MessageNumber,attr"`
		} `xml:"d:AppSequence"`
	} `xml:"s:Header"`
	Body struct {
		Content any
	} `xml:"s:Body"`
}

type endpointDescription struct {
	Endpoint struct {
		Address string `xml:"a:Address"`
	} `xml:"a:EndpointReference"`
	Types           string `xml:"d:Types,omitempty"`
	Scopes          string `xml:"d:Scopes,omitempty"`
	XAddrs          string `xml:"d:XAddrs,omitempty"`
	MetadataVersion int    `xml:"d:MetadataVersion"`
}

func (d *Discovery) envelope(action, to, relatesTo string, content any) []byte {
	var e discoveryEnvelope
	e.S, e.A, e.D, e.DN, e.TDS = nsEnv, nsAddressing, nsDiscovery, nsNetwork, nsTDS
	e.Header.MessageID = newMessageID()
	e.Header.RelatesTo = relatesTo
	e.Header.To = to
	e.Header.Action = nsDiscovery + "/" + action
	e.Header.AppSequence.InstanceID = d.instance
	e.Header.AppSequence.MessageNumber = d.msgNum.Add(1)
	e.Body.Content = content
	b, err := xml.Marshal(e)
	if err != nil {
		panic("onvif: discovery envelope: " + err.Error()) // fixed types: a bug, not input
	}
	return append([]byte(xml.Header), b...)
}

func (d *Discovery) describe(l *link) endpointDescription {
	var e endpointDescription
	e.Endpoint.Address = d.endpoint
	e.Types = "dn:NetworkVideoTransmitter tds:Device"
	e.Scopes = strings.Join(scopes(d.o.Device), " ")
	e.XAddrs = strings.Join(d.o.XAddrs(l.local), " ")
	e.MetadataVersion = 1
	return e
}

// hello is a Hello or a Bye (which carries only the endpoint).
func (d *Discovery) hello(l *link, action string) []byte {
	desc := d.describe(l)
	if action == "Bye" {
		desc = endpointDescription{Endpoint: desc.Endpoint, MetadataVersion: desc.MetadataVersion}
		return d.envelope(action, discoveryTo, "", struct {
			XMLName xml.Name `xml:"d:Bye"`
			endpointDescription
		}{endpointDescription: desc})
	}
	return d.envelope(action, discoveryTo, "", struct {
		XMLName xml.Name `xml:"d:Hello"`
		endpointDescription
	}{endpointDescription: desc})
}

func (d *Discovery) probeMatches(l *link, relatesTo string) []byte {
	type match struct {
		XMLName xml.Name `xml:"d:ProbeMatch"`
		endpointDescription
	}
	return d.envelope("ProbeMatches", anonymousRole, relatesTo, struct {
		XMLName xml.Name `xml:"d:ProbeMatches"`
		Match   match
	}{Match: match{endpointDescription: d.describe(l)}})
}
