// Package chatlatency measures how long a chat message takes from mosquitto_pub to its SEI arriving at an RTMP ingest (BenchmarkChatLatency).
package chatlatency
