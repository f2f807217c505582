// Package player measures the local web player: chat published with mosquitto_pub until drawn in the page in headless Chromium (BenchmarkChatToPage), and the node's CPU with the HTTP-FLV destination and one browser relative to without it (BenchmarkPlayerCPU).
package player
