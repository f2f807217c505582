// Package flv writes and reads FLV tag bodies, AMF0 values and FLV files, as pure functions over bytes.
package flv
