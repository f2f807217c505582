package flv

// Metadata is what the onMetaData script message tells players about the video.
type Metadata struct {
	Width, Height     int
	FrameRate         float64
	VideoDataRateKbps float64
	Encoder           string
}

// AppendMetadata appends the body of the AMF0 data message an RTMP publisher sends before
// the first video tag:
//
//	string "@setDataFrame"  string "onMetaData"
//	ECMA array(6) { width: number, height: number, framerate: number,
//	                videocodecid: number 7 (AVC), videodatarate: number (kbit/s),
//	                encoder: string }  00 00 09
//
// The ingest strips "@setDataFrame" and keeps the rest as the stream's onMetaData.
func AppendMetadata(dst []byte, m Metadata) []byte {
	dst = AppendAMFString(dst, "@setDataFrame")
	dst = AppendAMFString(dst, "onMetaData")
	dst = AppendAMFECMAArrayStart(dst, 6)
	dst = AppendAMFKey(dst, "width")
	dst = AppendAMFNumber(dst, float64(m.Width))
	dst = AppendAMFKey(dst, "height")
	dst = AppendAMFNumber(dst, float64(m.Height))
	dst = AppendAMFKey(dst, "framerate")
	dst = AppendAMFNumber(dst, m.FrameRate)
	dst = AppendAMFKey(dst, "videocodecid")
	dst = AppendAMFNumber(dst, CodecAVC)
	dst = AppendAMFKey(dst, "videodatarate")
	dst = AppendAMFNumber(dst, m.VideoDataRateKbps)
	dst = AppendAMFKey(dst, "encoder")
	dst = AppendAMFString(dst, m.Encoder)
	return AppendAMFObjectEnd(dst)
}
