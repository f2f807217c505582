//go:build !linux

package main

// hardwareEncoders finds none: V4L2 devices exist only on Linux.
func hardwareEncoders() []string { return nil }
