package main

import (
	"testing"
	"unsafe"
)

// The ioctl numbers encode the structure sizes (_IOR/_IOWR: bits 16-29): the Go
// structures must have exactly those sizes, or the kernel reads and writes past them.
func TestV4L2StructSizes(t *testing.T) {
	if got, want := unsafe.Sizeof(v4l2Capability{}), uintptr(vidiocQuerycap>>16&0x3fff); got != want || want != 104 {
		t.Errorf("v4l2_capability: %d bytes, the ioctl says %d", got, want)
	}
	if got, want := unsafe.Sizeof(v4l2Fmtdesc{}), uintptr(vidiocEnumFmt>>16&0x3fff); got != want || want != 64 {
		t.Errorf("v4l2_fmtdesc: %d bytes, the ioctl says %d", got, want)
	}
}
