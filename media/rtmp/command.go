package rtmp

import (
	"fmt"

	"github.com/camnode/camnode/internal/redact"
	"github.com/camnode/camnode/media/flv"
)

// Transaction ids of the commands Dial and Close send, so the answers can be told apart.
const (
	txnConnect       = 1
	txnReleaseStream = 2
	txnFCPublish     = 3
	txnCreateStream  = 4
	txnPublish       = 5
	txnFCUnpublish   = 6
	txnDeleteStream  = 7
)

const flashVer = "FMLE/3.0 (compatible; camnode)"

// StatusError is an error the server reported in an onStatus, onFCPublish or _error answer,
// for example level "error", code "NetStream.Publish.BadName".
type StatusError struct {
	Level, Code, Description string
}

func (e *StatusError) Error() string {
	s := "server status " + e.Level + " " + e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// command is a decoded AMF0 command message: name, transaction id, command object, and the
// further arguments (for onStatus and _error the info object is args[0]).
type command struct {
	name string
	txn  float64
	obj  flv.AMFMap
	args []any
}

// info returns the first argument as an info object (onStatus, _result, _error).
func (c command) info() flv.AMFMap {
	if len(c.args) > 0 {
		if m, ok := c.args[0].(flv.AMFMap); ok {
			return m
		}
	}
	return nil
}

// decodeCommand decodes the payload of a command message. AMF3 command messages (type 17)
// start with a 0x00 format byte and then carry AMF0 values.
func decodeCommand(m message) (command, error) {
	p := m.payload
	if m.typeID == typeCommandAMF3 && len(p) > 0 && p[0] == 0 {
		p = p[1:]
	}
	vals, err := flv.DecodeAMFValues(p)
	if err != nil {
		return command{}, fmt.Errorf("decode command: %w", err)
	}
	var c command
	var ok bool
	if len(vals) == 0 {
		return command{}, fmt.Errorf("decode command: empty")
	}
	if c.name, ok = vals[0].(string); !ok {
		return command{}, fmt.Errorf("decode command: name is %T, want string", vals[0])
	}
	// ffmpeg's server answers FCPublish with a bare "onFCPublish": no transaction id.
	if len(vals) > 1 {
		c.txn, _ = vals[1].(float64)
	}
	if len(vals) > 2 {
		c.obj, _ = vals[2].(flv.AMFMap)
		c.args = vals[3:]
	}
	return c, nil
}

// statusError builds the error of a status object. Servers such as SRS echo the stream name
// or the whole URL in the description: URLs are redacted by structure, secrets as in
// redact.Echo (so a key "1" hides in "stream 1 busy" and "1.flv" but not in "127.0.0.1").
func statusError(info flv.AMFMap, secrets ...string) *StatusError {
	e := &StatusError{Level: info.String("level"), Code: info.String("code"), Description: info.String("description")}
	e.Description = scrubStatus(e.Description, secrets)
	e.Code = scrubStatus(e.Code, secrets)
	return e
}

func scrubStatus(s string, secrets []string) string {
	return redact.Echo(redact.URLs(RedactText(s)), secrets)
}

// appendConnect appends the connect command:
//
//	"connect" 1 {app, type: "nonprivate", flashVer, tcUrl}
func appendConnect(dst []byte, u URL) []byte {
	dst = flv.AppendAMFString(dst, "connect")
	dst = flv.AppendAMFNumber(dst, txnConnect)
	dst = flv.AppendAMFObjectStart(dst)
	dst = flv.AppendAMFKey(dst, "app")
	dst = flv.AppendAMFString(dst, u.App)
	dst = flv.AppendAMFKey(dst, "type")
	dst = flv.AppendAMFString(dst, "nonprivate")
	dst = flv.AppendAMFKey(dst, "flashVer")
	dst = flv.AppendAMFString(dst, flashVer)
	dst = flv.AppendAMFKey(dst, "tcUrl")
	dst = flv.AppendAMFString(dst, u.TCURL)
	return flv.AppendAMFObjectEnd(dst)
}

// appendCall appends a command with a null command object and string arguments:
//
//	name txn null args...
func appendCall(dst []byte, name string, txn float64, args ...string) []byte {
	dst = flv.AppendAMFString(dst, name)
	dst = flv.AppendAMFNumber(dst, txn)
	dst = flv.AppendAMFNull(dst)
	for _, a := range args {
		dst = flv.AppendAMFString(dst, a)
	}
	return dst
}

// appendDeleteStream appends "deleteStream" txn null streamID.
func appendDeleteStream(dst []byte, streamID uint32) []byte {
	dst = appendCall(dst, "deleteStream", txnDeleteStream)
	return flv.AppendAMFNumber(dst, float64(streamID))
}
