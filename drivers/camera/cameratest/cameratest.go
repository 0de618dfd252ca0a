package cameratest

import (
	"image"
	"time"

	"twincap/drivers/camera"
	"twincap/drivers/internal/scripted"
)

// Camera is a fake camera.Camera. Read returns what was queued with Push and
// PushError, in order, and blocks while the queue is empty (until more is
// queued, ctx is done, the camera is closed or unplugged, or End was
// called). Unplug makes every Read fail with camera.ErrDisconnected. It is
// safe for concurrent use.
type Camera struct {
	*scripted.Source[camera.Frame]
	format camera.Format
}

var _ camera.Camera = (*Camera)(nil)

// New returns an empty fake camera of format f.
func New(f camera.Format) *Camera {
	return &Camera{Source: scripted.New[camera.Frame](camera.ErrClosed, camera.ErrDisconnected), format: f}
}

// Format implements camera.Camera.
func (c *Camera) Format() camera.Format { return c.format }

// Frames makes n frames of format f, stamped start + i/FPS, each a flat
// grey whose level changes with i so the encoder has something to code.
func Frames(f camera.Format, start time.Time, n int) []camera.Frame {
	out := make([]camera.Frame, n)
	for i := range out {
		out[i] = Frame(f, start.Add(time.Duration(i)*time.Second/time.Duration(f.FPS)), uint8(16+i*7%200))
	}
	return out
}

// Frame makes one flat frame of luma level y, stamped t.
func Frame(f camera.Format, t time.Time, y uint8) camera.Frame {
	img := image.NewYCbCr(image.Rect(0, 0, f.Width, f.Height), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = y
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	return camera.Frame{Image: img, Time: t}
}
