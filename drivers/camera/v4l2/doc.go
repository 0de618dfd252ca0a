// Package v4l2 is the box's real camera: a V4L2 capture device (a USB
// webcam through uvcvideo, or vivid under QEMU) read through
// github.com/blackjack/webcam and delivered as I420 frames stamped with the
// wall-clock time they were dequeued.
//
// Open negotiates one of YUYV, NV12 and MJPEG at the configured size and
// the nearest frame rate the device offers; when the size is not offered
// its error (a *FormatError) lists what is. Discover lists the capture
// devices and their offers for logs and for the technician.
//
// Everything above the device is tested against a fake device; the real
// one is only reached in open_linux.go.
package v4l2
