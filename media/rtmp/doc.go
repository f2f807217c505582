// Package rtmp publishes one FLV stream over RTMP or RTMPS, with deadlines on every step and extended timestamps on every chunk.
package rtmp
