#!/usr/bin/python3
"""Makes Home Assistant's ONVIF calls, in Home Assistant's order, with zeep.

Usage: ha_calls.py WSDL_DIR HOST PORT USER PASSWORD

Home Assistant (homeassistant/components/onvif: config_flow.py, device.py, camera.py)
drives onvif-zeep-async, which loads devicemgmt.wsdl and media.wsdl into zeep and signs
every request with zeep's UsernameToken(use_digest=True, zulu_timestamp=True). This
script does the same calls through zeep in the same order and prints what it got as one
JSON object on stdout; the Go test (TestZeepHomeAssistantCalls) checks it. A step that
raises stops the script with the step's name and error on stderr and exit code 1.
"""

import json
import sys

import requests
from requests.auth import HTTPDigestAuth
from zeep import Client, Settings
from zeep.exceptions import Fault
from zeep.transports import Transport
from zeep.wsa import WsAddressingPlugin
from zeep.wsse.username import UsernameToken

TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"


def subcodes(fault):
    codes = fault.subcodes or []
    return [c.text if hasattr(c, "text") else str(c) for c in codes]


def main():
    wsdl_dir, host, port, user, password = sys.argv[1:6]
    base = "http://%s:%s" % (host, port)
    device_xaddr = base + "/onvif/device_service"
    # Like onvif-zeep-async: lenient parsing is Home Assistant's setting; the test runs
    # strict, which refuses an element out of the schema's order.
    settings = Settings(strict=True, xml_huge_tree=True)
    transport = Transport(timeout=10, operation_timeout=10)

    def client(wsdl, token):
        # onvif-zeep-async adds WS-Addressing headers (Action, MessageID, To) the same way.
        return Client(wsdl_dir + "/" + wsdl, wsse=token, settings=settings, transport=transport,
                      plugins=[WsAddressingPlugin()])

    def digest(pw):
        return UsernameToken(user, pw, use_digest=True, zulu_timestamp=True)

    out = {}
    step = "start"
    try:
        # onvif-zeep-async: the device service is at the fixed path; its clock is read without
        # credentials first (adjust_time), the rest with a digest token.
        step = "authless GetSystemDateAndTime"
        authless = client("devicemgmt.wsdl", None).create_service("{%s}DeviceBinding" % TDS, device_xaddr)
        t = authless.GetSystemDateAndTime()
        u = t.UTCDateTime
        out["utc"] = [u.Date.Year, u.Date.Month, u.Date.Day, u.Time.Hour, u.Time.Minute, u.Time.Second]
        out["date_time_type"] = t.DateTimeType

        dev = client("devicemgmt.wsdl", digest(password)).create_service("{%s}DeviceBinding" % TDS, device_xaddr)

        # update_xaddrs: GetServices first.
        step = "GetServices"
        services = dev.GetServices(IncludeCapability=False)
        out["services"] = {s.Namespace: s.XAddr for s in services}

        # get_capabilities: GetCapabilities(All).
        step = "GetCapabilities"
        caps = dev.GetCapabilities(Category="All")
        out["capabilities"] = {
            "device": caps.Device.XAddr if caps.Device else None,
            "media": caps.Media.XAddr if caps.Media else None,
            "events": caps.Events.XAddr if caps.Events else None,
            "ptz": caps.PTZ.XAddr if caps.PTZ else None,
        }

        # async_check_date_and_time, signed this time.
        step = "GetSystemDateAndTime"
        dev.GetSystemDateAndTime()

        # async_get_device_info.
        step = "GetDeviceInformation"
        info = dev.GetDeviceInformation()
        out["info"] = {
            "manufacturer": info.Manufacturer, "model": info.Model, "firmware": info.FirmwareVersion,
            "serial": info.SerialNumber, "hardware": info.HardwareId,
        }
        step = "GetNetworkInterfaces"
        macs = [i.Info.HwAddress for i in dev.GetNetworkInterfaces() if i.Enabled]
        out["mac"] = macs[-1] if macs else None

        # async_get_capabilities: the media service at the XAddr GetServices gave.
        media_xaddr = out["services"][TRT]
        media = client("media.wsdl", digest(password)).create_service("{%s}MediaBinding" % TRT, media_xaddr)
        step = "media GetServiceCapabilities"
        mcaps = media.GetServiceCapabilities()
        out["snapshot_capable"] = bool(mcaps.SnapshotUri)

        # async_get_profiles.
        step = "GetProfiles"
        profiles = []
        for p in media.GetProfiles():
            ve = p.VideoEncoderConfiguration
            ae = p.AudioEncoderConfiguration
            profiles.append({
                "token": p.token,
                "encoding": ve.Encoding,
                "width": ve.Resolution.Width, "height": ve.Resolution.Height,
                "fps": ve.RateControl.FrameRateLimit, "bitrate": ve.RateControl.BitrateLimit,
                "gov": ve.H264.GovLength, "h264_profile": ve.H264.H264Profile,
                "source_token": p.VideoSourceConfiguration.SourceToken,
                "audio": None if ae is None else {
                    "encoding": ae.Encoding, "bitrate": ae.Bitrate, "sample_rate": ae.SampleRate,
                },
            })
        out["profiles"] = profiles
        token = profiles[0]["token"]

        # An operation the node does not offer (events and PTZ are tried the same way): a
        # SOAP fault Home Assistant carries on after.
        step = "GetHostname (not offered)"
        try:
            dev.GetHostname()
            out["unsupported"] = "answered"
        except Fault as f:
            out["unsupported"] = {"message": f.message, "code": f.code, "subcodes": subcodes(f)}

        # camera.py: the stream and the snapshot.
        step = "GetStreamUri"
        uri = media.GetStreamUri(StreamSetup={"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}, ProfileToken=token)
        out["stream_uri"] = uri.Uri
        step = "GetSnapshotUri"
        snap = media.GetSnapshotUri(ProfileToken=token)
        out["snapshot_uri"] = snap.Uri

        step = "snapshot with HTTP Digest"
        r = requests.get(snap.Uri, auth=HTTPDigestAuth(user, password), timeout=10)
        out["snapshot"] = {"status": r.status_code, "content_type": r.headers.get("Content-Type"), "bytes": len(r.content)}
        r = requests.get(snap.Uri, timeout=10)
        out["snapshot_without_credentials"] = r.status_code

        # The config flow with a wrong password: Home Assistant shows "auth_failed" when the
        # fault's subcode says NotAuthorized.
        step = "wrong password"
        bad = client("devicemgmt.wsdl", digest(password + "x")).create_service("{%s}DeviceBinding" % TDS, device_xaddr)
        try:
            bad.GetDeviceInformation()
            out["wrong_password"] = "answered"
        except Fault as f:
            out["wrong_password"] = {"message": f.message, "code": f.code, "subcodes": subcodes(f)}
    except Exception as e:  # noqa: BLE001 - report which step failed
        print("step %s: %s: %s" % (step, type(e).__name__, e), file=sys.stderr)
        print(json.dumps(out, default=str))
        return 1
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
