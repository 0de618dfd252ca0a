package cameratest

import (
	"context"
	"image"
	"io"
	"sync"
	"time"

	"twincap/drivers/camera"
)

// Camera is a fake camera.Camera. Read returns what was queued with Push and
// PushError, in order, and blocks while the queue is empty (until more is
// queued, ctx is done, the camera is closed or unplugged, or End was
// called). It is safe for concurrent use.
type Camera struct {
	format camera.Format

	mu       sync.Mutex
	queue    []item
	wake     chan struct{} // closed and replaced whenever something changes
	closed   bool
	unplug   bool
	ended    bool
	reads    int
	closeCnt int
}

type item struct {
	frame camera.Frame
	err   error
}

var _ camera.Camera = (*Camera)(nil)

// New returns an empty fake camera of format f.
func New(f camera.Format) *Camera {
	return &Camera{format: f, wake: make(chan struct{})}
}

// Format implements camera.Camera.
func (c *Camera) Format() camera.Format { return c.format }

func (c *Camera) changed() {
	close(c.wake)
	c.wake = make(chan struct{})
}

// Push queues frames.
func (c *Camera) Push(frames ...camera.Frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range frames {
		c.queue = append(c.queue, item{frame: f})
	}
	c.changed()
}

// PushError queues an error; the Read that reaches it returns it once.
func (c *Camera) PushError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = append(c.queue, item{err: err})
	c.changed()
}

// End makes Read return io.EOF once the queue is empty, as a finite source.
func (c *Camera) End() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	c.changed()
}

// Unplug drops the queue and makes every Read fail with
// camera.ErrDisconnected, as when the cable is pulled.
func (c *Camera) Unplug() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unplug, c.queue = true, nil
	c.changed()
}

// Reads is how many frames Read has returned.
func (c *Camera) Reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// Closed reports how many times Close was called.
func (c *Camera) Closed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCnt
}

// Read implements camera.Camera.
func (c *Camera) Read(ctx context.Context) (camera.Frame, error) {
	for {
		c.mu.Lock()
		switch {
		case c.closed:
			c.mu.Unlock()
			return camera.Frame{}, camera.ErrClosed
		case c.unplug:
			c.mu.Unlock()
			return camera.Frame{}, camera.ErrDisconnected
		case len(c.queue) > 0:
			it := c.queue[0]
			c.queue = c.queue[1:]
			if it.err == nil {
				c.reads++
			}
			c.mu.Unlock()
			return it.frame, it.err
		case c.ended:
			c.mu.Unlock()
			return camera.Frame{}, io.EOF
		}
		wake := c.wake
		c.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return camera.Frame{}, ctx.Err()
		}
	}
}

// Close implements camera.Camera.
func (c *Camera) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.closeCnt++
	c.changed()
	return nil
}

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
