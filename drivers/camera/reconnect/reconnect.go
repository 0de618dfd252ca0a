package reconnect

import (
	"context"
	"errors"
	"fmt"
	"image"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"twincap/drivers/camera"
)

// Defaults for zero Config fields.
const (
	DefaultRetry = 500 * time.Millisecond
	DefaultStall = 2 * time.Second
)

// keptOutages bounds the history Outages returns: a camera that comes and
// goes for months must not grow it without end.
const keptOutages = 1024

// ErrStalled is the cause of an outage that began because the camera sent
// no frame for Config.Stall.
var ErrStalled = errors.New("reconnect: the camera sent no frame")

// Config describes the wrapper.
type Config struct {
	// Format is what the wrapper delivers. A camera that opens with
	// another size is closed again and counts as a failure to open; its
	// frame rate may differ (frames pass through with their own times),
	// cards come at Format.FPS.
	Format camera.Format
	// Open opens the real camera, such as v4l2.Open with the configured
	// device. It is called from Read, first at the first Read.
	Open func(ctx context.Context) (camera.Camera, error)
	// Retry is the time between attempts to open (DefaultRetry if zero).
	Retry time.Duration
	// Stall is how long a Read may wait for the camera before it counts as
	// lost and is reopened (DefaultStall if zero; negative: wait forever).
	Stall time.Duration
	// OnOutage, if set, is called from Read when an outage starts (End is
	// zero) and again when it ends. It must not block.
	OnOutage func(Outage)
	// Now and After are the clock (time.Now and time.After if nil).
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Outage is a span without real video; cards were delivered instead.
type Outage struct {
	// Start is when the first missing frame was due: one frame period
	// after the last real frame, or the first Read if there was none.
	Start time.Time
	// End is the capture time of the first real frame after it; zero
	// while the outage lasts.
	End time.Time
	// Err is what started it (wrapping camera.ErrDisconnected when the
	// camera went away, ErrStalled when it went silent).
	Err error
}

// Camera delivers the real camera's frames, or cards while it is away.
// It implements camera.Camera. Read is called from one goroutine at a
// time; Close, State, Err and Outages from any.
type Camera struct {
	cfg    Config
	period time.Duration
	card   *image.YCbCr // the card without its blinking dot

	// Owned by the reading goroutine.
	started    bool
	videoUntil time.Time // when the next real frame is due
	nextCard   time.Time
	nextRetry  time.Time

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	// mu guards what Close and the status methods share with Read. It is
	// never held while blocking.
	mu      sync.Mutex
	state   State
	cam     camera.Camera
	outages []Outage
	err     error
}

var _ camera.Camera = (*Camera)(nil)

// New checks cfg and returns the wrapper; it opens the camera at the
// first Read.
func New(cfg Config) (*Camera, error) {
	if err := cfg.Format.Validate(); err != nil {
		return nil, fmt.Errorf("reconnect: %w", err)
	}
	if cfg.Open == nil {
		return nil, errors.New("reconnect: no open function")
	}
	if cfg.Retry < 0 {
		return nil, fmt.Errorf("reconnect: retry %v is negative", cfg.Retry)
	}
	if cfg.Retry == 0 {
		cfg.Retry = DefaultRetry
	}
	if cfg.Stall == 0 {
		cfg.Stall = DefaultStall
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	return &Camera{
		cfg:    cfg,
		period: time.Second / time.Duration(cfg.Format.FPS),
		card:   drawCard(cfg.Format.Width, cfg.Format.Height),
		done:   make(chan struct{}),
	}, nil
}

// Format implements camera.Camera: the configured format.
func (c *Camera) Format() camera.Format { return c.cfg.Format }

// State is where the wrapper is now.
func (c *Camera) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Err is the latest failure while the camera is away (to open it, or of
// the camera itself), nil while it is live.
func (c *Camera) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Outages returns the outages so far, oldest first (at most the latest
// 1024); the last one has a zero End while it lasts.
func (c *Camera) Outages() []Outage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.outages)
}

// Read implements camera.Camera. It returns real frames while the camera
// works and cards stamped one period apart while it does not; it returns
// an error only when ctx is done or the wrapper is closed.
func (c *Camera) Read(ctx context.Context) (camera.Frame, error) {
	for {
		select {
		case <-c.done:
			return camera.Frame{}, camera.ErrClosed
		case <-ctx.Done():
			return camera.Frame{}, ctx.Err()
		default:
		}
		now := c.cfg.Now()
		if !c.started {
			c.started = true
			c.videoUntil, c.nextCard, c.nextRetry = now, now, now
		}
		c.mu.Lock()
		state, cam := c.state, c.cam
		c.mu.Unlock()
		switch state {
		case Closed:
			return camera.Frame{}, camera.ErrClosed
		case Starting, Lost:
			if now.Before(c.nextRetry) {
				f, err := c.cardFrame(ctx, now)
				if errors.Is(err, errRetryFirst) {
					continue
				}
				return f, err
			}
			if err := c.open(ctx); err != nil {
				return camera.Frame{}, err
			}
		case Live, Recovering:
			f, err := c.read(ctx, cam)
			if err == nil {
				c.videoUntil = f.Time.Add(c.period)
				c.apply(frame, f.Time, nil)
				return f, nil
			}
			select {
			case <-c.done:
				return camera.Frame{}, camera.ErrClosed
			default:
			}
			if ctx.Err() != nil {
				return camera.Frame{}, ctx.Err()
			}
			if state == Live {
				// Cards take over where the frames stopped.
				c.nextCard = c.videoUntil
			}
			c.nextRetry = c.cfg.Now().Add(c.cfg.Retry)
			c.apply(readFailed, c.videoUntil, err)
		}
	}
}

// Close implements camera.Camera: it closes the camera if open and makes
// a pending Read return camera.ErrClosed. An outage in progress stays
// open-ended in Outages.
func (c *Camera) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.state, _ = transition(c.state, closing)
		cam := c.cam
		c.cam = nil
		c.mu.Unlock()
		close(c.done)
		if cam != nil {
			c.closeErr = cam.Close()
		}
	})
	return c.closeErr
}

// open tries the camera once. It returns an error only if the wrapper
// was closed or ctx ended meanwhile.
func (c *Camera) open(ctx context.Context) error {
	cam, err := c.cfg.Open(ctx)
	if err == nil {
		if f := cam.Format(); f.Width != c.cfg.Format.Width || f.Height != c.cfg.Format.Height {
			cam.Close()
			cam, err = nil, fmt.Errorf("reconnect: the camera delivers %dx%d, configured %dx%d", f.Width, f.Height, c.cfg.Format.Width, c.cfg.Format.Height)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.nextRetry = c.cfg.Now().Add(c.cfg.Retry)
		c.apply(openFailed, c.videoUntil, err)
		return nil
	}
	c.mu.Lock()
	if c.state == Closed {
		c.mu.Unlock()
		cam.Close()
		return camera.ErrClosed
	}
	c.cam = cam
	c.mu.Unlock()
	c.apply(opened, time.Time{}, nil)
	return nil
}

// read reads cam, giving up with ErrStalled after Config.Stall.
func (c *Camera) read(ctx context.Context, cam camera.Camera) (camera.Frame, error) {
	if c.cfg.Stall < 0 {
		return cam.Read(ctx)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stall := c.cfg.After(c.cfg.Stall)
	stop := make(chan struct{})
	defer close(stop)
	var stalled atomic.Bool
	go func() {
		select {
		case <-stall:
			stalled.Store(true)
			cancel()
		case <-c.done:
			cancel()
		case <-stop:
		}
	}()
	f, err := cam.Read(rctx)
	if err != nil && ctx.Err() == nil && stalled.Load() && errors.Is(err, context.Canceled) {
		err = fmt.Errorf("%w for %v", ErrStalled, c.cfg.Stall)
	}
	return f, err
}

// errRetryFirst tells Read that an attempt to open is due before the
// next card.
var errRetryFirst = errors.New("reconnect: retry first")

// cardFrame waits for the next card's slot and returns it, or returns
// errRetryFirst when an attempt to open falls due first. A reader that
// fell behind gets the card of the slot now passing, not a backlog.
func (c *Camera) cardFrame(ctx context.Context, now time.Time) (camera.Frame, error) {
	if late := now.Sub(c.nextCard); late >= c.period {
		c.nextCard = c.nextCard.Add(late / c.period * c.period)
	}
	until, retry := c.nextCard, false
	if c.nextRetry.Before(until) {
		until, retry = c.nextRetry, true
	}
	if wait := until.Sub(now); wait > 0 {
		select {
		case <-c.cfg.After(wait):
		case <-c.done:
			return camera.Frame{}, camera.ErrClosed
		case <-ctx.Done():
			return camera.Frame{}, ctx.Err()
		}
	}
	if retry {
		return camera.Frame{}, errRetryFirst
	}
	t := c.nextCard
	c.nextCard = t.Add(c.period)
	return camera.Frame{Image: cardAt(c.card, t), Time: t}, nil
}

// apply runs the state machine for e at time at, caused by err, and does
// what it asks.
func (c *Camera) apply(e event, at time.Time, err error) {
	var (
		toClose camera.Camera
		notify  []Outage
	)
	c.mu.Lock()
	next, act := transition(c.state, e)
	c.state = next
	switch {
	case err != nil:
		c.err = err
	case next == Live:
		c.err = nil
	}
	if act&closeCamera != 0 {
		toClose, c.cam = c.cam, nil
	}
	if act&startOutage != 0 {
		c.outages = append(c.outages, Outage{Start: at, Err: err})
		if len(c.outages) > keptOutages {
			c.outages = slices.Delete(c.outages, 0, len(c.outages)-keptOutages)
		}
		notify = append(notify, c.outages[len(c.outages)-1])
	}
	if act&endOutage != 0 && len(c.outages) > 0 {
		o := &c.outages[len(c.outages)-1]
		o.End = at
		notify = append(notify, *o)
	}
	c.mu.Unlock()
	if toClose != nil {
		toClose.Close()
	}
	if c.cfg.OnOutage != nil {
		for _, o := range notify {
			c.cfg.OnOutage(o)
		}
	}
}
