package onvif

import (
	"encoding/xml"
	"net/url"
	"strings"
	"time"
)

// The device service's responses, in the element order of ONVIF's devicemgmt.wsdl and
// onvif.xsd (a schema-checking client such as zeep refuses another order).

type dateTimeXML struct {
	Time struct {
		Hour   int `xml:"tt:Hour"`
		Minute int `xml:"tt:Minute"`
		Second int `xml:"tt:Second"`
	} `xml:"tt:Time"`
	Date struct {
		Year  int `xml:"tt:Year"`
		Month int `xml:"tt:Month"`
		Day   int `xml:"tt:Day"`
	} `xml:"tt:Date"`
}

func dateTimeOf(t time.Time) dateTimeXML {
	var d dateTimeXML
	d.Time.Hour, d.Time.Minute, d.Time.Second = t.Clock()
	y, m, day := t.Date()
	d.Date.Year, d.Date.Month, d.Date.Day = y, int(m), day
	return d
}

type getSystemDateAndTimeResponse struct {
	XMLName xml.Name `xml:"tds:GetSystemDateAndTimeResponse"`
	SDT     struct {
		// NTP: the node's clock is the operating system's; "Manual" would invite the client
		// to SetSystemDateAndTime, which is not offered.
		DateTimeType    string `xml:"tt:DateTimeType"`
		DaylightSavings bool   `xml:"tt:DaylightSavings"`
		TimeZone        struct {
			TZ string `xml:"tt:TZ"`
		} `xml:"tt:TimeZone"`
		UTC   dateTimeXML `xml:"tt:UTCDateTime"`
		Local dateTimeXML `xml:"tt:LocalDateTime"`
	} `xml:"tds:SystemDateAndTime"`
}

func (s *Service) getSystemDateAndTime(*call) (any, *fault) {
	now := s.opts.Now().UTC()
	var r getSystemDateAndTimeResponse
	r.SDT.DateTimeType = "NTP"
	r.SDT.TimeZone.TZ = "UTC0" // POSIX TZ; both times are UTC
	r.SDT.UTC = dateTimeOf(now)
	r.SDT.Local = dateTimeOf(now)
	return r, nil
}

type getDeviceInformationResponse struct {
	XMLName         xml.Name `xml:"tds:GetDeviceInformationResponse"`
	Manufacturer    string   `xml:"tds:Manufacturer"`
	Model           string   `xml:"tds:Model"`
	FirmwareVersion string   `xml:"tds:FirmwareVersion"`
	SerialNumber    string   `xml:"tds:SerialNumber"`
	HardwareID      string   `xml:"tds:HardwareId"`
}

func (s *Service) getDeviceInformation(*call) (any, *fault) {
	d := s.opts.Device
	return getDeviceInformationResponse{
		Manufacturer: d.Manufacturer, Model: d.Model, FirmwareVersion: d.Firmware,
		SerialNumber: d.Serial, HardwareID: d.HardwareID,
	}, nil
}

type getNetworkInterfacesResponse struct {
	XMLName    xml.Name `xml:"tds:GetNetworkInterfacesResponse"`
	Interfaces struct {
		Token   string `xml:"token,attr"`
		Enabled bool   `xml:"tt:Enabled"`
		Info    struct {
			Name      string `xml:"tt:Name"`
			HwAddress string `xml:"tt:HwAddress"`
			MTU       int    `xml:"tt:MTU"`
		} `xml:"tt:Info"`
	} `xml:"tds:NetworkInterfaces"`
}

// getNetworkInterfaces reports one enabled interface with the device's MAC, the unique id
// Home Assistant gives the camera.
func (s *Service) getNetworkInterfaces(*call) (any, *fault) {
	var r getNetworkInterfacesResponse
	r.Interfaces.Token = "eth0"
	r.Interfaces.Enabled = true
	r.Interfaces.Info.Name = "eth0"
	r.Interfaces.Info.HwAddress = s.opts.Device.MAC.String()
	r.Interfaces.Info.MTU = 1500
	return r, nil
}

type streamingCapabilitiesXML struct {
	RTPMulticast bool `xml:"tt:RTPMulticast"`
	RTPTCP       bool `xml:"tt:RTP_TCP"`
	RTPRTSPTCP   bool `xml:"tt:RTP_RTSP_TCP"`
}

type getCapabilitiesResponse struct {
	XMLName      xml.Name `xml:"tds:GetCapabilitiesResponse"`
	Capabilities struct {
		Device *struct {
			XAddr string `xml:"tt:XAddr"`
		} `xml:"tt:Device,omitempty"`
		Media *struct {
			XAddr     string                   `xml:"tt:XAddr"`
			Streaming streamingCapabilitiesXML `xml:"tt:StreamingCapabilities"`
		} `xml:"tt:Media,omitempty"`
	} `xml:"tds:Capabilities"`
}

// getCapabilities answers the categories All, Device and Media; the others (Analytics,
// Events, Imaging, PTZ) are services this node has not.
func (s *Service) getCapabilities(c *call) (any, *fault) {
	var r getCapabilitiesResponse
	cat := strings.TrimSpace(c.req.Category)
	if cat == "" || cat == "All" || cat == "Device" {
		r.Capabilities.Device = &struct {
			XAddr string `xml:"tt:XAddr"`
		}{XAddr: c.xaddr(DevicePath)}
	}
	if cat == "" || cat == "All" || cat == "Media" {
		r.Capabilities.Media = &struct {
			XAddr     string                   `xml:"tt:XAddr"`
			Streaming streamingCapabilitiesXML `xml:"tt:StreamingCapabilities"`
		}{XAddr: c.xaddr(MediaPath), Streaming: streamingCapabilitiesXML{RTPTCP: true, RTPRTSPTCP: true}}
	}
	if r.Capabilities.Device == nil && r.Capabilities.Media == nil {
		return nil, faultNoSuchService()
	}
	return r, nil
}

// deviceServiceCapabilitiesXML is tds:DeviceServiceCapabilities: what the device service
// does beyond this subset is all false.
type deviceServiceCapabilitiesXML struct {
	Network  struct{} `xml:"tds:Network"`
	Security struct {
		UsernameToken bool `xml:"UsernameToken,attr"`
		HTTPDigest    bool `xml:"HttpDigest,attr"`
	} `xml:"tds:Security"`
	System struct {
		DiscoveryBye bool `xml:"DiscoveryBye,attr"`
	} `xml:"tds:System"`
}

func deviceServiceCapabilities() deviceServiceCapabilitiesXML {
	var c deviceServiceCapabilitiesXML
	c.Security.UsernameToken = true
	c.Security.HTTPDigest = true
	c.System.DiscoveryBye = true
	return c
}

// mediaServiceCapabilitiesXML is trt:Capabilities; SnapshotUri="true" is what Home
// Assistant reads to offer the JPEG.
type mediaServiceCapabilitiesXML struct {
	SnapshotURI     bool `xml:"SnapshotUri,attr"`
	Rotation        bool `xml:"Rotation,attr"`
	VideoSourceMode bool `xml:"VideoSourceMode,attr"`
	OSD             bool `xml:"OSD,attr"`
	Profiles        struct {
		Max int `xml:"MaximumNumberOfProfiles,attr"`
	} `xml:"trt:ProfileCapabilities"`
	Streaming struct {
		RTPMulticast        bool `xml:"RTPMulticast,attr"`
		RTPTCP              bool `xml:"RTP_TCP,attr"`
		RTPRTSPTCP          bool `xml:"RTP_RTSP_TCP,attr"`
		NonAggregateControl bool `xml:"NonAggregateControl,attr"`
		NoRTSPStreaming     bool `xml:"NoRTSPStreaming,attr"`
	} `xml:"trt:StreamingCapabilities"`
}

func mediaServiceCapabilities() mediaServiceCapabilitiesXML {
	var c mediaServiceCapabilitiesXML
	c.SnapshotURI = true
	c.Profiles.Max = 1
	c.Streaming.RTPTCP = true
	c.Streaming.RTPRTSPTCP = true
	return c
}

type serviceXML struct {
	Namespace    string `xml:"tds:Namespace"`
	XAddr        string `xml:"tds:XAddr"`
	Capabilities *struct {
		Content any
	} `xml:"tds:Capabilities,omitempty"`
	Version struct {
		Major int `xml:"tt:Major"`
		Minor int `xml:"tt:Minor"`
	} `xml:"tds:Version"`
}

type getServicesResponse struct {
	XMLName  xml.Name     `xml:"tds:GetServicesResponse"`
	Services []serviceXML `xml:"tds:Service"`
}

// ONVIF version claimed for both services: 2.60, the Profile S era the subset follows.
const serviceMajor, serviceMinor = 2, 60

func (s *Service) getServices(c *call) (any, *fault) {
	dev := serviceXML{Namespace: nsTDS, XAddr: c.xaddr(DevicePath)}
	med := serviceXML{Namespace: nsTRT, XAddr: c.xaddr(MediaPath)}
	if c.req.Include {
		dev.Capabilities = &struct{ Content any }{Content: struct {
			XMLName xml.Name `xml:"tds:Capabilities"`
			deviceServiceCapabilitiesXML
		}{deviceServiceCapabilitiesXML: deviceServiceCapabilities()}}
		med.Capabilities = &struct{ Content any }{Content: struct {
			XMLName xml.Name `xml:"trt:Capabilities"`
			mediaServiceCapabilitiesXML
		}{mediaServiceCapabilitiesXML: mediaServiceCapabilities()}}
	}
	for _, sv := range []*serviceXML{&dev, &med} {
		sv.Version.Major, sv.Version.Minor = serviceMajor, serviceMinor
	}
	return getServicesResponse{Services: []serviceXML{dev, med}}, nil
}

func (s *Service) getDeviceServiceCapabilities(*call) (any, *fault) {
	return struct {
		XMLName      xml.Name                     `xml:"tds:GetServiceCapabilitiesResponse"`
		Capabilities deviceServiceCapabilitiesXML `xml:"tds:Capabilities"`
	}{Capabilities: deviceServiceCapabilities()}, nil
}

func (s *Service) getMediaServiceCapabilities(*call) (any, *fault) {
	return struct {
		XMLName      xml.Name                    `xml:"trt:GetServiceCapabilitiesResponse"`
		Capabilities mediaServiceCapabilitiesXML `xml:"trt:Capabilities"`
	}{Capabilities: mediaServiceCapabilities()}, nil
}

type getScopesResponse struct {
	XMLName xml.Name `xml:"tds:GetScopesResponse"`
	Scopes  []struct {
		Def  string `xml:"tt:ScopeDef"`
		Item string `xml:"tt:ScopeItem"`
	} `xml:"tds:Scopes"`
}

func (s *Service) getScopes(*call) (any, *fault) {
	var r getScopesResponse
	for _, sc := range scopes(s.opts.Device) {
		r.Scopes = append(r.Scopes, struct {
			Def  string `xml:"tt:ScopeDef"`
			Item string `xml:"tt:ScopeItem"`
		}{"Fixed", sc})
	}
	return r, nil
}

// scopes are the device's ONVIF scopes, the same in GetScopes and WS-Discovery: a Profile S
// video transmitter, its name and hardware (Home Assistant lists discovered cameras by
// them) and its MAC (which Home Assistant takes as the camera's id).
func scopes(d Device) []string {
	sc := []string{
		"onvif://www.onvif.org/type/video_encoder",
		"onvif://www.onvif.org/type/Network_Video_Transmitter",
		"onvif://www.onvif.org/Profile/Streaming",
	}
	if d.Name != "" {
		sc = append(sc, "onvif://www.onvif.org/name/"+scopeSegment(d.Name))
	}
	hw := d.HardwareID
	if hw == "" {
		hw = d.Model
	}
	if hw != "" {
		sc = append(sc, "onvif://www.onvif.org/hardware/"+scopeSegment(hw))
	}
	if len(d.MAC) > 0 {
		sc = append(sc, "onvif://www.onvif.org/mac/"+d.MAC.String())
	}
	return sc
}

// scopeSegment makes a name one URI path segment: spaces become underscores (the
// convention clients undo), anything else outside a segment is percent-escaped.
func scopeSegment(s string) string {
	return url.PathEscape(strings.ReplaceAll(s, " ", "_"))
}
