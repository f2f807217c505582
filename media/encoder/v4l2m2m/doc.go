// Package v4l2m2m is the H.264 encoder of boards that have one as a V4L2
// memory-to-memory device (the Raspberry Pi's bcm2835-codec at /dev/video11, and the
// stateful encoders of other SoCs), behind encoder.Encoder.
//
// It follows the kernel's stateful encoder interface (Documentation/userspace-api/media/
// v4l/dev-encoder.rst): raw frames (I420 or NV12) go into the OUTPUT queue, coded
// frames come out of the CAPTURE queue, both memory-mapped; it works with the
// single-planar and the multi-planar API (bcm2835-codec is multi-planar). The coded
// format is a parameter so that the kernel's virtual codec, vicodec (FWHT), proves the
// same code in a VM (scripts/ci/vm.sh); docs/hardware-encoder.md says what that proves
// and what only a Pi can.
//
// Raw ioctls through golang.org/x/sys/unix: no cgo, so cross builds need no C library.
package v4l2m2m
