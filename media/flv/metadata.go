package flv

// Metadata is what the onMetaData script message tells players about the stream.
type Metadata struct {
	Width, Height int
	FrameRate     float64
	// VideoDataRateKbps is the video bitrate: the encoder's target, or the measured rate of
	// a stream camnode passes through; 0 (not measured yet) leaves the field out.
	VideoDataRateKbps float64
	Encoder           string
	// AudioSampleRate is non-zero when the stream has an AAC track; then the audio fields
	// below are announced too.
	AudioSampleRate   int
	AudioChannels     int
	AudioDataRateKbps float64
}

// AppendMetadata appends the body of the AMF0 data message an RTMP publisher sends before
// the first video tag:
//
//	string "@setDataFrame"  string "onMetaData"
//	ECMA array(6, or 11 with audio; one less without a data rate) {
//	    width: number, height: number, framerate: number,
//	    videocodecid: number 7 (AVC), [videodatarate: number (kbit/s),]
//	    [audiocodecid: number 10 (AAC), audiosamplerate: number (Hz),
//	     audiosamplesize: number 16, stereo: boolean, audiodatarate: number (kbit/s),]
//	    encoder: string }  00 00 09
//
// The ingest strips "@setDataFrame" and keeps the rest as the stream's onMetaData.
func AppendMetadata(dst []byte, m Metadata) []byte {
	n := 6
	if m.AudioSampleRate > 0 {
		n += 5
	}
	if m.VideoDataRateKbps == 0 {
		n--
	}
	dst = AppendAMFString(dst, "@setDataFrame")
	dst = AppendAMFString(dst, "onMetaData")
	dst = AppendAMFECMAArrayStart(dst, n)
	dst = AppendAMFKey(dst, "width")
	dst = AppendAMFNumber(dst, float64(m.Width))
	dst = AppendAMFKey(dst, "height")
	dst = AppendAMFNumber(dst, float64(m.Height))
	dst = AppendAMFKey(dst, "framerate")
	dst = AppendAMFNumber(dst, m.FrameRate)
	dst = AppendAMFKey(dst, "videocodecid")
	dst = AppendAMFNumber(dst, CodecAVC)
	if m.VideoDataRateKbps != 0 {
		dst = AppendAMFKey(dst, "videodatarate")
		dst = AppendAMFNumber(dst, m.VideoDataRateKbps)
	}
	if m.AudioSampleRate > 0 {
		dst = AppendAMFKey(dst, "audiocodecid")
		dst = AppendAMFNumber(dst, CodecAAC)
		dst = AppendAMFKey(dst, "audiosamplerate")
		dst = AppendAMFNumber(dst, float64(m.AudioSampleRate))
		dst = AppendAMFKey(dst, "audiosamplesize")
		dst = AppendAMFNumber(dst, 16)
		dst = AppendAMFKey(dst, "stereo")
		dst = AppendAMFBoolean(dst, m.AudioChannels == 2)
		dst = AppendAMFKey(dst, "audiodatarate")
		dst = AppendAMFNumber(dst, m.AudioDataRateKbps)
	}
	dst = AppendAMFKey(dst, "encoder")
	dst = AppendAMFString(dst, m.Encoder)
	return AppendAMFObjectEnd(dst)
}
