package v4l2

import (
	"errors"
	"sync"
	"time"
)

// fakeDevice is a V4L2 node for the tests: it offers what offers says and
// hands out what the test queues with push.
type fakeDevice struct {
	offers []Offer // Rates of a range Size are the rates at every size

	// Set-up results.
	setFormat   func(p PixelFormat) PixelFormat // nil: the driver takes p
	setErr      error
	intervalErr error
	startErr    error

	mu       sync.Mutex
	format   PixelFormat
	interval Interval
	started  int
	closed   int
	released int

	items chan fakeItem
	cur   fakeItem // owned by the capture goroutine
}

// fakeItem is one frame or one failure.
type fakeItem struct {
	data       []byte
	waitErr    error
	dequeueErr error
}

func newFakeDevice(offers ...Offer) *fakeDevice {
	return &fakeDevice{offers: offers, items: make(chan fakeItem, 1000)}
}

func (d *fakeDevice) push(items ...fakeItem) {
	for _, it := range items {
		d.items <- it
	}
}

func (d *fakeDevice) PixelFormats() []PixelFormat {
	var out []PixelFormat
	for _, o := range d.offers {
		if len(out) == 0 || out[len(out)-1] != o.Pixel {
			out = append(out, o.Pixel)
		}
	}
	return out
}

func (d *fakeDevice) FrameSizes(p PixelFormat) []Size {
	var out []Size
	for _, o := range d.offers {
		if o.Pixel == p {
			out = append(out, o.Size)
		}
	}
	return out
}

func (d *fakeDevice) FrameRates(p PixelFormat, w, h int) []Rate {
	for _, o := range d.offers {
		if o.Pixel == p && o.Size.Fits(w, h) {
			return o.Rates
		}
	}
	return nil
}

func (d *fakeDevice) SetFormat(p PixelFormat, w, h int) (PixelFormat, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.setErr != nil {
		return 0, d.setErr
	}
	if d.setFormat != nil {
		p = d.setFormat(p)
	}
	d.format = p
	return p, nil
}

func (d *fakeDevice) SetInterval(i Interval) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.intervalErr != nil {
		return d.intervalErr
	}
	d.interval = i
	return nil
}

func (d *fakeDevice) FPS() (float64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.interval == (Interval{}) {
		return 0, errors.New("no rate set")
	}
	return d.interval.FPS(), nil
}

func (d *fakeDevice) Start(int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.started++
	return d.startErr
}

// Wait returns at once when something is queued; otherwise it times out
// quickly, as the real one does after a second, so that Close is noticed.
func (d *fakeDevice) Wait() error {
	select {
	case it := <-d.items:
		d.cur = it
		return it.waitErr
	case <-time.After(time.Millisecond):
		return errWaitTimeout
	}
}

func (d *fakeDevice) Dequeue() ([]byte, uint32, error) {
	if d.cur.dequeueErr != nil {
		return nil, 0, d.cur.dequeueErr
	}
	return d.cur.data, 7, nil
}

func (d *fakeDevice) Release(uint32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.released++
	return nil
}

func (d *fakeDevice) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed++
	return nil
}

func (d *fakeDevice) counts() (started, released, closed int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.started, d.released, d.closed
}
