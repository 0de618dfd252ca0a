package v4l2

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"twincap/drivers/camera"
)

// device is a V4L2 node as this package uses it. open_linux.go implements
// it over github.com/blackjack/webcam; the tests implement a fake.
type device interface {
	PixelFormats() []PixelFormat
	FrameSizes(p PixelFormat) []Size
	FrameRates(p PixelFormat, width, height int) []Rate
	// SetFormat asks for p at width x height and returns the pixel format
	// the driver settled on.
	SetFormat(p PixelFormat, width, height int) (PixelFormat, error)
	SetInterval(i Interval) error
	// FPS reads back the frame rate in force.
	FPS() (float64, error)
	Start(buffers int) error
	// Wait blocks until a frame can be dequeued, for at most about a
	// second; then it returns errWaitTimeout.
	Wait() error
	// Dequeue returns a filled buffer; data is valid until Release.
	Dequeue() (data []byte, index uint32, err error)
	Release(index uint32) error
	Close() error
}

// errWaitTimeout is device.Wait's timeout.
var errWaitTimeout = errors.New("v4l2: no frame yet")

// Tuning.
const (
	// buffers is how many frames the driver may hold: enough to ride out
	// a slow conversion, few enough that a dequeued frame is fresh.
	buffers = 4
	// queued is how many converted frames wait for a slow reader before
	// the oldest is dropped, as a camera drops frames.
	queued = 4
	// maxBadFrames in a row (short, corrupt) end capture with an error.
	maxBadFrames = 50
)

// Stats counts what the camera threw away.
type Stats struct {
	Dropped int64 // converted frames the reader was too slow to take
	Skipped int64 // frames that could not be converted
}

// Camera is an open V4L2 capture device delivering I420 frames. It
// implements camera.Camera. A goroutine of its own dequeues every frame as
// soon as the driver has it, so that the capture time it stamps is not
// delayed by a slow reader.
type Camera struct {
	path   string
	dev    device
	format camera.Format
	pixel  PixelFormat
	now    func() time.Time
	// gone reports whether the device node has vanished (unplugged).
	gone func() bool

	frames chan camera.Frame
	failed chan struct{} // closed when capture stopped on err
	err    error
	done   chan struct{} // closed by Close
	exited chan struct{} // closed when the capture goroutine returns

	closeOnce sync.Once
	closeErr  error

	dropped, skipped atomic.Int64
}

var _ camera.Camera = (*Camera)(nil)

// start negotiates want on dev, sets it up, starts streaming and the
// capture goroutine. configured says whether prefer came from config.
func start(path string, dev device, want camera.Format, prefer []PixelFormat, configured bool, now func() time.Time, gone func() bool) (*Camera, error) {
	offers := enumerate(dev, want)
	ch, err := negotiate(path, offers, want, prefer, configured)
	if err != nil {
		return nil, err
	}
	got, err := dev.SetFormat(ch.pixel, want.Width, want.Height)
	if err != nil {
		return nil, fmt.Errorf("v4l2: camera %s: set format %v %dx%d: %w", path, ch.pixel, want.Width, want.Height, err)
	}
	if got != ch.pixel {
		return nil, fmt.Errorf("v4l2: camera %s: asked for %v %dx%d, the driver chose %v", path, ch.pixel, want.Width, want.Height, got)
	}
	fps := ch.fps
	if ch.interval != (Interval{}) {
		// Drivers that list rates take S_PARM; should one refuse, it runs
		// at a rate of its own, which the read-back below reports.
		_ = dev.SetInterval(ch.interval)
	}
	if r, err := dev.FPS(); err == nil && r > 0 {
		fps = r
	}
	if err := dev.Start(buffers); err != nil {
		return nil, fmt.Errorf("v4l2: camera %s: start streaming: %w", path, mapGone(err, gone))
	}
	c := &Camera{
		path:   path,
		dev:    dev,
		format: camera.Format{Width: want.Width, Height: want.Height, FPS: max(1, int(math.Round(fps)))},
		pixel:  ch.pixel,
		now:    now,
		gone:   gone,
		frames: make(chan camera.Frame, queued),
		failed: make(chan struct{}),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	go c.capture()
	return c, nil
}

// Format implements camera.Camera: the configured size at the negotiated
// rate, which may differ from the configured one (see Open).
func (c *Camera) Format() camera.Format { return c.format }

// PixelFormat is the format negotiated with the device.
func (c *Camera) PixelFormat() PixelFormat { return c.pixel }

// Stats reports frames thrown away so far.
func (c *Camera) Stats() Stats { return Stats{Dropped: c.dropped.Load(), Skipped: c.skipped.Load()} }

// Read implements camera.Camera. After the device fails, frames already
// converted are delivered first, then the error; one that means the
// device went away wraps camera.ErrDisconnected.
func (c *Camera) Read(ctx context.Context) (camera.Frame, error) {
	select {
	case <-c.done:
		return camera.Frame{}, camera.ErrClosed
	default:
	}
	select {
	case f := <-c.frames:
		return f, nil
	default:
	}
	select {
	case f := <-c.frames:
		return f, nil
	case <-c.failed:
		select {
		case f := <-c.frames:
			return f, nil
		default:
		}
		return camera.Frame{}, c.err
	case <-c.done:
		return camera.Frame{}, camera.ErrClosed
	case <-ctx.Done():
		return camera.Frame{}, ctx.Err()
	}
}

// Close implements camera.Camera. It waits for the capture goroutine,
// which notices within about a second even when the device is silent, and
// then releases the device.
func (c *Camera) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		<-c.exited
		c.closeErr = c.dev.Close()
		if c.closeErr != nil {
			c.closeErr = fmt.Errorf("v4l2: close camera %s: %w", c.path, c.closeErr)
		}
	})
	return c.closeErr
}

func (c *Camera) capture() {
	defer close(c.exited)
	cv := converter{pixel: c.pixel, w: c.format.Width, h: c.format.Height}
	bad := 0
	for {
		select {
		case <-c.done:
			return
		default:
		}
		err := c.dev.Wait()
		if errors.Is(err, errWaitTimeout) || errors.Is(err, syscall.EINTR) {
			// A silent device is for the reconnecting wrapper to judge.
			continue
		}
		if err != nil {
			c.fail("wait for a frame", err)
			return
		}
		data, index, err := c.dev.Dequeue()
		// The frame was complete when the driver let it go; the buffer's
		// own timestamp is on CLOCK_MONOTONIC and the webcam package does
		// not hand it out, so the dequeue time stands for it.
		t := c.now()
		if errors.Is(err, syscall.EAGAIN) {
			continue
		}
		if err != nil {
			c.fail("dequeue", err)
			return
		}
		img, cerr := cv.convert(data) // copies out of the driver's buffer
		if err := c.dev.Release(index); err != nil {
			c.fail("queue a buffer", err)
			return
		}
		if cerr != nil {
			c.skipped.Add(1)
			if bad++; bad >= maxBadFrames {
				c.fail(fmt.Sprintf("%d frames in a row could not be converted", bad), cerr)
				return
			}
			continue
		}
		bad = 0
		c.deliver(camera.Frame{Image: img, Time: t})
	}
}

// deliver queues f, dropping the oldest frame if the reader has fallen
// behind. Only the capture goroutine sends, so the second send cannot
// block.
func (c *Camera) deliver(f camera.Frame) {
	select {
	case c.frames <- f:
		return
	default:
	}
	select {
	case <-c.frames:
		c.dropped.Add(1)
	default:
	}
	c.frames <- f
}

func (c *Camera) fail(op string, err error) {
	c.err = fmt.Errorf("v4l2: camera %s: %s: %w", c.path, op, mapGone(err, c.gone))
	close(c.failed)
}

// mapGone wraps err in camera.ErrDisconnected when it means the device
// went away: the driver says so (ENODEV, ENXIO, EIO, ESHUTDOWN) or the
// node has vanished.
func mapGone(err error, gone func() bool) error {
	for _, e := range []error{syscall.ENODEV, syscall.ENXIO, syscall.EIO, syscall.ESHUTDOWN} {
		if errors.Is(err, e) {
			return fmt.Errorf("%w (%w)", camera.ErrDisconnected, err)
		}
	}
	if gone != nil && gone() {
		return fmt.Errorf("%w: the device node is gone (%w)", camera.ErrDisconnected, err)
	}
	return err
}
