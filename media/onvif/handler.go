package onvif

import (
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
)

// operation answers one SOAP operation: a response element, or a fault.
type operation struct {
	// preAuth operations are answered without credentials: ONVIF Core's PRE_AUTH class, which
	// a client needs before it can authenticate (the clock for the digest's Created, and
	// where the services are).
	preAuth bool
	answer  func(s *Service, c *call) (any, *fault)
}

// call is one request as an operation sees it.
type call struct {
	req    request
	scheme string // http or https
	host   string // the host (and port) the client reached us at
}

// operations are the ones offered; every other answers ter:ActionNotSupported.
var operations = map[xml.Name]operation{
	{Space: nsTDS, Local: "GetSystemDateAndTime"}:   {preAuth: true, answer: (*Service).getSystemDateAndTime},
	{Space: nsTDS, Local: "GetCapabilities"}:        {preAuth: true, answer: (*Service).getCapabilities},
	{Space: nsTDS, Local: "GetServices"}:            {preAuth: true, answer: (*Service).getServices},
	{Space: nsTDS, Local: "GetServiceCapabilities"}: {preAuth: true, answer: (*Service).getDeviceServiceCapabilities},
	{Space: nsTDS, Local: "GetDeviceInformation"}:   {answer: (*Service).getDeviceInformation},
	{Space: nsTDS, Local: "GetNetworkInterfaces"}:   {answer: (*Service).getNetworkInterfaces},
	{Space: nsTDS, Local: "GetScopes"}:              {answer: (*Service).getScopes},
	{Space: nsTRT, Local: "GetServiceCapabilities"}: {preAuth: true, answer: (*Service).getMediaServiceCapabilities},
	{Space: nsTRT, Local: "GetProfiles"}:            {answer: (*Service).getProfiles},
	{Space: nsTRT, Local: "GetProfile"}:             {answer: (*Service).getProfile},
	{Space: nsTRT, Local: "GetStreamUri"}:           {answer: (*Service).getStreamURI},
	{Space: nsTRT, Local: "GetSnapshotUri"}:         {answer: (*Service).getSnapshotURI},
}

// serveSOAP answers a POST on either service path. Operations are told apart by their
// namespace, so a client that posts a media operation to the device path is answered too.
func (s *Service) serveSOAP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestSize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			f := newFault(faultSender, "ter:WellFormed", "request larger than 64 KiB")
			writeEnvelope(w, http.StatusRequestEntityTooLarge, f)
			return
		}
		return // the client went away
	}
	req, err := parseRequest(body)
	if err != nil {
		f := faultMalformed(err.Error())
		if errors.Is(err, errVersion) {
			f = newFault(faultVersionMismatch, "SOAP 1.2 only")
		}
		s.log.Debug("onvif: malformed request", "remote", r.RemoteAddr, "err", err)
		writeEnvelope(w, f.httpStatus(), f)
		return
	}
	op, ok := operations[req.Operation]
	if !ok {
		s.log.Debug("onvif: operation not offered", "op", req.Operation.Local, "ns", req.Operation.Space)
		f := faultActionNotSupported()
		writeEnvelope(w, f.httpStatus(), f)
		return
	}
	if s.authEnabled() && !op.preAuth {
		if err := s.checkToken(req.Token); err != nil {
			// The reason is for the log only; the password and the token never are.
			s.log.Info("onvif: refused", "op", req.Operation.Local, "remote", r.RemoteAddr, "reason", err.Error())
			f := faultNotAuthorized()
			writeEnvelope(w, f.httpStatus(), f)
			return
		}
	}
	c := &call{req: req, scheme: "http", host: requestHost(r)}
	if r.TLS != nil {
		c.scheme = "https"
	}
	resp, f := op.answer(s, c)
	if f != nil {
		writeEnvelope(w, f.httpStatus(), f)
		return
	}
	writeEnvelope(w, http.StatusOK, resp)
}

// requestHost is the host:port the client reached us at: the Host header when it is a plain
// host[:port], else the connection's local address. The URLs built from it are given back
// to the same client, so a LAN client gets a LAN address and a loopback client loopback.
func requestHost(r *http.Request) string {
	if h := r.Host; h != "" && validHost(h) {
		return h
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return a.String()
	}
	return "localhost"
}

// validHost accepts host, host:port, [v6] and [v6]:port with no userinfo, path or spaces.
func validHost(h string) bool {
	if len(h) > 255 || strings.ContainsAny(h, "/?#@\\ \t\r\n\"'<>") {
		return false
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		host, port = h, ""
		if strings.HasPrefix(h, "[") {
			if !strings.HasSuffix(h, "]") {
				return false
			}
			host = h[1 : len(h)-1]
		}
	}
	if host == "" {
		return false
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	if strings.Contains(host, ":") {
		return net.ParseIP(host) != nil
	}
	return true
}

// xaddr is the URL of a service path as the client reached us.
func (c *call) xaddr(path string) string { return c.scheme + "://" + c.host + path }
