package onvif

import (
	"encoding/xml"
	"math"
	"strings"
)

// The one media profile, and the tokens of its configurations.
const (
	profileToken      = "main"
	videoSourceToken  = "video"
	videoSourceConfig = "video_source"
	videoEncoderToken = "h264"
	audioSourceToken  = "audio"
	audioSourceConfig = "audio_source"
	audioEncoderToken = "aac"
)

// The media service's responses, in the element order of ONVIF's media.wsdl and onvif.xsd.

type multicastXML struct {
	Address struct {
		Type string `xml:"tt:Type"`
		IPv4 string `xml:"tt:IPv4Address"`
	} `xml:"tt:Address"`
	Port      int  `xml:"tt:Port"`
	TTL       int  `xml:"tt:TTL"`
	AutoStart bool `xml:"tt:AutoStart"`
}

// noMulticast is the Multicast element the schema requires: unicast only.
func noMulticast() multicastXML {
	var m multicastXML
	m.Address.Type = "IPv4"
	m.Address.IPv4 = "0.0.0.0"
	return m
}

type profileXML struct {
	Token       string `xml:"token,attr"`
	Fixed       bool   `xml:"fixed,attr"`
	Name        string `xml:"tt:Name"`
	VideoSource struct {
		Token       string `xml:"token,attr"`
		Name        string `xml:"tt:Name"`
		UseCount    int    `xml:"tt:UseCount"`
		SourceToken string `xml:"tt:SourceToken"`
		Bounds      struct {
			X      int `xml:"x,attr"`
			Y      int `xml:"y,attr"`
			Width  int `xml:"width,attr"`
			Height int `xml:"height,attr"`
		} `xml:"tt:Bounds"`
	} `xml:"tt:VideoSourceConfiguration"`
	AudioSource *struct {
		Token       string `xml:"token,attr"`
		Name        string `xml:"tt:Name"`
		UseCount    int    `xml:"tt:UseCount"`
		SourceToken string `xml:"tt:SourceToken"`
	} `xml:"tt:AudioSourceConfiguration,omitempty"`
	VideoEncoder struct {
		Token      string `xml:"token,attr"`
		Name       string `xml:"tt:Name"`
		UseCount   int    `xml:"tt:UseCount"`
		Encoding   string `xml:"tt:Encoding"`
		Resolution struct {
			Width  int `xml:"tt:Width"`
			Height int `xml:"tt:Height"`
		} `xml:"tt:Resolution"`
		Quality     float64 `xml:"tt:Quality"`
		RateControl struct {
			FrameRateLimit   int `xml:"tt:FrameRateLimit"`
			EncodingInterval int `xml:"tt:EncodingInterval"`
			BitrateLimit     int `xml:"tt:BitrateLimit"` // kbit/s
		} `xml:"tt:RateControl"`
		H264 struct {
			GovLength   int    `xml:"tt:GovLength"`
			H264Profile string `xml:"tt:H264Profile"`
		} `xml:"tt:H264"`
		Multicast      multicastXML `xml:"tt:Multicast"`
		SessionTimeout string       `xml:"tt:SessionTimeout"`
	} `xml:"tt:VideoEncoderConfiguration"`
	AudioEncoder *struct {
		Token          string       `xml:"token,attr"`
		Name           string       `xml:"tt:Name"`
		UseCount       int          `xml:"tt:UseCount"`
		Encoding       string       `xml:"tt:Encoding"`
		Bitrate        int          `xml:"tt:Bitrate"`    // kbit/s
		SampleRate     int          `xml:"tt:SampleRate"` // kHz, as ONVIF counts it
		Multicast      multicastXML `xml:"tt:Multicast"`
		SessionTimeout string       `xml:"tt:SessionTimeout"`
	} `xml:"tt:AudioEncoderConfiguration,omitempty"`
}

// h264Profiles are the values of tt:H264Profile.
var h264Profiles = map[string]string{"baseline": "Baseline", "main": "Main", "extended": "Extended", "high": "High"}

// profile describes the stream as it is now.
func (s *Service) profile() profileXML {
	v, a := s.opts.Media()
	var p profileXML
	p.Token, p.Fixed, p.Name = profileToken, true, "camnode"

	vs := &p.VideoSource
	vs.Token, vs.Name, vs.UseCount, vs.SourceToken = videoSourceConfig, "camera", 1, videoSourceToken
	vs.Bounds.Width, vs.Bounds.Height = v.Width, v.Height

	ve := &p.VideoEncoder
	ve.Token, ve.Name, ve.UseCount, ve.Encoding = videoEncoderToken, "H.264", 1, "H264"
	ve.Resolution.Width, ve.Resolution.Height = v.Width, v.Height
	ve.Quality = 5 // the encoder is rate-controlled; Quality is a required field without a unit
	ve.RateControl.FrameRateLimit = int(math.Round(v.FPS))
	ve.RateControl.EncodingInterval = 1
	ve.RateControl.BitrateLimit = v.BitrateKbps
	ve.H264.GovLength = v.GOVLength
	ve.H264.H264Profile = "Main"
	if name, ok := h264Profiles[strings.ToLower(strings.TrimSpace(v.Profile))]; ok {
		ve.H264.H264Profile = name
	}
	ve.Multicast = noMulticast()
	ve.SessionTimeout = "PT60S"

	if a != nil {
		p.AudioSource = &struct {
			Token       string `xml:"token,attr"`
			Name        string `xml:"tt:Name"`
			UseCount    int    `xml:"tt:UseCount"`
			SourceToken string `xml:"tt:SourceToken"`
		}{audioSourceConfig, "microphone", 1, audioSourceToken}
		p.AudioEncoder = &struct {
			Token          string       `xml:"token,attr"`
			Name           string       `xml:"tt:Name"`
			UseCount       int          `xml:"tt:UseCount"`
			Encoding       string       `xml:"tt:Encoding"`
			Bitrate        int          `xml:"tt:Bitrate"`
			SampleRate     int          `xml:"tt:SampleRate"`
			Multicast      multicastXML `xml:"tt:Multicast"`
			SessionTimeout string       `xml:"tt:SessionTimeout"`
		}{audioEncoderToken, "AAC", 1, "AAC", a.BitrateKbps, a.SampleRate / 1000, noMulticast(), "PT60S"}
	}
	return p
}

func (s *Service) getProfiles(*call) (any, *fault) {
	return struct {
		XMLName  xml.Name     `xml:"trt:GetProfilesResponse"`
		Profiles []profileXML `xml:"trt:Profiles"`
	}{Profiles: []profileXML{s.profile()}}, nil
}

func (s *Service) getProfile(c *call) (any, *fault) {
	if c.req.ProfileToken != profileToken {
		return nil, faultNoProfile()
	}
	return struct {
		XMLName xml.Name   `xml:"trt:GetProfileResponse"`
		Profile profileXML `xml:"trt:Profile"`
	}{Profile: s.profile()}, nil
}

type mediaURIXML struct {
	URI                 string `xml:"tt:Uri"`
	InvalidAfterConnect bool   `xml:"tt:InvalidAfterConnect"`
	InvalidAfterReboot  bool   `xml:"tt:InvalidAfterReboot"`
	Timeout             string `xml:"tt:Timeout"`
}

// getStreamURI gives the RTSP URL whatever the StreamSetup asks: RTSP over TCP or UDP is
// what the node serves, and a multicast request gets the unicast URL (RTPMulticast is
// false in the capabilities).
func (s *Service) getStreamURI(c *call) (any, *fault) {
	if c.req.ProfileToken != profileToken {
		return nil, faultNoProfile()
	}
	return struct {
		XMLName  xml.Name    `xml:"trt:GetStreamUriResponse"`
		MediaURI mediaURIXML `xml:"trt:MediaUri"`
	}{MediaURI: mediaURIXML{URI: s.opts.StreamURI(c.host), Timeout: "PT0S"}}, nil
}

func (s *Service) getSnapshotURI(c *call) (any, *fault) {
	if c.req.ProfileToken != profileToken {
		return nil, faultNoProfile()
	}
	return struct {
		XMLName  xml.Name    `xml:"trt:GetSnapshotUriResponse"`
		MediaURI mediaURIXML `xml:"trt:MediaUri"`
	}{MediaURI: mediaURIXML{URI: s.opts.SnapshotURI(c.host), Timeout: "PT0S"}}, nil
}
