package node

import "github.com/camnode/camnode/mqtt"

// Event names published on <base>/event. Events, below, lists every one of them: Home
// Assistant's event entity offers that list.
const (
	EventStreamStarted    = "stream_started"    // the first destination went live after ON
	EventStreamStopped    = "stream_stopped"    // OFF, or the node stopped
	EventStreamEnded      = "stream_ended"      // a source that plays once reached its end
	EventRTMPConnected    = "rtmp_connected"    // a destination is live again, or live after the first
	EventRTMPDisconnected = "rtmp_disconnected" // a destination lost its ingest (once per outage)
	EventRTMPRejected     = "rtmp_rejected"     // an ingest refused the stream
	EventSourceFailed     = "source_failed"     // the source could not open or stopped
	EventAudioFailed      = "audio_failed"      // the audio source failed: silence until it is back
	EventStreamWarning    = "stream_warning"    // a passthrough stream platforms may not take
	EventCommandRejected  = mqtt.EventCommandRejected
	EventChatRejected     = mqtt.EventChatRejected
	EventKeyframe         = "keyframe_requested" // keyframe/set
	EventRestart          = "pipeline_restarted" // restart/set
	// EventBurnUnavailable says, once for each stream start, that CAMNODE_DANMAKU names
	// burn but this stream cannot draw into its picture (an H.264 source, no encoder, no
	// font), and where chat goes instead.
	EventBurnUnavailable = "burn_unavailable"
	// A reader of CAMNODE_CHAT_FROM reads its room, or lost it (the reason, and when it
	// tries again).
	EventChatSourceConnected = "chat_source_connected"
	EventChatSourceFailed    = "chat_source_failed"
)

// Events is every event name the node publishes.
var Events = []string{
	EventStreamStarted, EventStreamStopped, EventStreamEnded, EventRTMPConnected,
	EventRTMPDisconnected, EventRTMPRejected, EventSourceFailed, EventAudioFailed,
	EventStreamWarning, EventCommandRejected, EventChatRejected, EventKeyframe, EventRestart,
	EventBurnUnavailable, EventChatSourceConnected, EventChatSourceFailed,
}
