// Package player measures the local web player: chat published with mosquitto_pub until drawn in the page in headless Chromium (BenchmarkChatToPage), glass-to-screen latency through the page's WebCodecs and MSE paths (BenchmarkGlassToScreen), and the node's CPU with the HTTP-FLV destination and two browsers relative to without it (BenchmarkPlayerCPU).
package player
