package testpattern

import (
	"context"
	"fmt"
	"image"
	"sync"
	"time"

	"twincap/drivers/camera"
)

// Config describes the pattern. Zero Now and After mean the real clock.
type Config struct {
	Width, Height, FPS int
	// Paced delivers frames in real time; otherwise Read returns at once.
	Paced bool
	// Stamp paints each frame's capture time into a strip along the
	// bottom of the picture (see Stamp), for glass-to-glass latency.
	Stamp bool
	// Now and After are the clock (time.Now and time.After by default).
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Camera is the test-pattern source. It implements camera.Camera.
type Camera struct {
	cfg    Config
	format camera.Format

	// Owned by the reading goroutine.
	started bool
	start   time.Time
	next    int64 // number of the next frame to deliver

	done      chan struct{}
	closeOnce sync.Once
}

var _ camera.Camera = (*Camera)(nil)

// New checks cfg and returns a pattern whose clock starts at the first Read.
func New(cfg Config) (*Camera, error) {
	f := camera.Format{Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("testpattern: %w", err)
	}
	if cfg.Width < 64 || cfg.Height < 48 {
		return nil, fmt.Errorf("testpattern: %v is too small (at least 64x48)", f)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	return &Camera{cfg: cfg, format: f, done: make(chan struct{})}, nil
}

// Format implements camera.Camera.
func (c *Camera) Format() camera.Format { return c.format }

// frameTime is the capture time of frame n, exact to the nanosecond so that
// hours of frames do not drift.
func (c *Camera) frameTime(n int64) time.Time {
	return c.start.Add(time.Duration(n) * time.Second / time.Duration(c.cfg.FPS))
}

// Read implements camera.Camera.
func (c *Camera) Read(ctx context.Context) (camera.Frame, error) {
	select {
	case <-c.done:
		return camera.Frame{}, camera.ErrClosed
	case <-ctx.Done():
		return camera.Frame{}, ctx.Err()
	default:
	}
	if !c.started {
		c.started, c.start = true, c.cfg.Now()
	}
	n := c.next
	if c.cfg.Paced {
		now := c.cfg.Now()
		period := time.Second / time.Duration(c.cfg.FPS)
		if late := now.Sub(c.frameTime(n)); late >= period {
			// The reader fell behind: skip to the frame being captured
			// now, as a real camera would.
			n += int64(late / period)
			for n > c.next && c.frameTime(n).After(now) {
				n--
			}
			for !c.frameTime(n + 1).After(now) {
				n++
			}
		}
		if wait := c.frameTime(n).Sub(now); wait > 0 {
			select {
			case <-c.cfg.After(wait):
			case <-c.done:
				return camera.Frame{}, camera.ErrClosed
			case <-ctx.Done():
				return camera.Frame{}, ctx.Err()
			}
		}
	}
	c.next = n + 1
	img := image.NewYCbCr(image.Rect(0, 0, c.cfg.Width, c.cfg.Height), image.YCbCrSubsampleRatio420)
	Draw(img, n, c.cfg.FPS)
	at := c.frameTime(n)
	if c.cfg.Stamp {
		Stamp(img, at)
	}
	return camera.Frame{Image: img, Time: at}, nil
}

// Close implements camera.Camera.
func (c *Camera) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	return nil
}
