package reconnect

import (
	"context"
	"errors"
	"image"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"twincap/drivers/camera"
	"twincap/drivers/camera/cameratest"
	"twincap/drivers/internal/fakeclock"
)

var (
	t0     = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	format = camera.Format{Width: 64, Height: 48, FPS: 25} // 40 ms a frame
	ms     = time.Millisecond
)

// opener plays a script of open results: a camera or an error each, then
// errors once the script runs out. It records the clock at every call.
type opener struct {
	clk     *fakeclock.Clock
	mu      sync.Mutex
	results []any
	calls   []time.Duration // since t0
}

var errNoCamera = errors.New("open /dev/video0: no such file or directory")

func (o *opener) open(ctx context.Context) (camera.Camera, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, o.clk.Now().Sub(t0))
	if len(o.results) == 0 {
		return nil, errNoCamera
	}
	r := o.results[0]
	o.results = o.results[1:]
	if err, ok := r.(error); ok {
		return nil, err
	}
	return r.(camera.Camera), nil
}

func (o *opener) callTimes() []time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Duration(nil), o.calls...)
}

// recorder collects what OnOutage is told.
type recorder struct {
	mu   sync.Mutex
	seen []Outage
}

func (r *recorder) on(o Outage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, o)
}

func (r *recorder) got() []Outage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Outage(nil), r.seen...)
}

func newWrapper(t *testing.T, clk *fakeclock.Clock, o *opener, rec *recorder, change func(*Config)) *Camera {
	t.Helper()
	cfg := Config{Format: format, Open: o.open, Stall: -1, OnOutage: rec.on, Now: clk.Now, After: clk.After}
	if change != nil {
		change(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// isCard tells the card from the cameratest frames (flat grey).
func isCard(img *image.YCbCr) bool {
	return img.Y[0] == cardGrey.y && img.Y[img.YOffset(img.Rect.Dx()/2, img.Rect.Dy()/2)] != cardGrey.y
}

func read(t *testing.T, c *Camera) camera.Frame {
	t.Helper()
	f, err := c.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f.Image == nil || f.Image.Rect != image.Rect(0, 0, format.Width, format.Height) {
		t.Fatalf("frame of %v", f.Image)
	}
	return f
}

func TestOutageAndRecovery(t *testing.T) {
	clk := fakeclock.New(t0)
	cam1 := cameratest.New(format)
	cam1.Push(cameratest.Frames(format, t0, 3)...)
	cam2 := cameratest.New(format)
	cam2.Push(cameratest.Frames(format, t0.Add(1060*ms), 2)...)
	o := &opener{clk: clk, results: []any{cam1, errNoCamera, cam2}}
	rec := &recorder{}
	c := newWrapper(t, clk, o, rec, nil)

	for i := range 3 {
		if f := read(t, c); isCard(f.Image) || !f.Time.Equal(t0.Add(time.Duration(i)*40*ms)) {
			t.Fatalf("frame %d: card %v at %v, want the camera's frame at %v", i, isCard(f.Image), f.Time.Sub(t0), time.Duration(i)*40*ms)
		}
	}
	if c.State() != Live || len(c.Outages()) != 0 {
		t.Fatalf("state %v, outages %v; want live and none", c.State(), c.Outages())
	}
	cam1.Unplug()

	// Cards every 40 ms from when the fourth frame was due, while the
	// camera is reopened every 500 ms, until its first frame.
	var cards []time.Duration
	for {
		f := read(t, c)
		if !isCard(f.Image) {
			if !f.Time.Equal(t0.Add(1060 * ms)) {
				t.Fatalf("first frame after the outage at %v, want 1.06s", f.Time.Sub(t0))
			}
			break
		}
		cards = append(cards, f.Time.Sub(t0))
		if len(cards) == 1 {
			if c.State() != Lost || cam1.Closed() != 1 {
				t.Fatalf("during the outage: state %v, lost camera closed %d times", c.State(), cam1.Closed())
			}
			if os := rec.got(); len(os) != 1 || !os[0].Start.Equal(t0.Add(120*ms)) || !os[0].End.IsZero() || !errors.Is(os[0].Err, camera.ErrDisconnected) {
				t.Fatalf("OnOutage saw %+v, want the start at 120ms, caused by ErrDisconnected", os)
			}
		}
		if len(cards) > 100 {
			t.Fatal("the camera never came back")
		}
	}
	for i, at := range cards {
		if want := 120*ms + time.Duration(i)*40*ms; at != want {
			t.Fatalf("card %d at %v, want %v", i, at, want)
		}
	}
	if last := cards[len(cards)-1]; last != 1000*ms {
		t.Fatalf("last card at %v, want 1s", last)
	}
	if got, want := o.callTimes(), []time.Duration{0, 500 * ms, 1000 * ms}; !equal(got, want) {
		t.Fatalf("opened at %v, want %v (every 500 ms)", got, want)
	}
	want := Outage{Start: t0.Add(120 * ms), End: t0.Add(1060 * ms)}
	os := c.Outages()
	if len(os) != 1 || !os[0].Start.Equal(want.Start) || !os[0].End.Equal(want.End) || !errors.Is(os[0].Err, camera.ErrDisconnected) {
		t.Fatalf("Outages = %+v, want one from 120ms to 1.06s", os)
	}
	if seen := rec.got(); len(seen) != 2 || !seen[1].End.Equal(want.End) {
		t.Fatalf("OnOutage saw %+v, want the start and then the end", seen)
	}
	if c.State() != Live || c.Err() != nil {
		t.Fatalf("after the outage: state %v, err %v", c.State(), c.Err())
	}
	if f := read(t, c); isCard(f.Image) || !f.Time.Equal(t0.Add(1100*ms)) {
		t.Fatalf("second frame after the outage: card %v at %v", isCard(f.Image), f.Time.Sub(t0))
	}
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNoCameraAtStart(t *testing.T) {
	clk := fakeclock.New(t0)
	cam := cameratest.New(format)
	cam.Push(cameratest.Frames(format, t0.Add(2*time.Second), 1)...)
	o := &opener{clk: clk, results: []any{errNoCamera, errNoCamera, errNoCamera, errNoCamera, cam}}
	rec := &recorder{}
	c := newWrapper(t, clk, o, rec, nil)
	f := read(t, c)
	if !isCard(f.Image) || !f.Time.Equal(t0) {
		t.Fatalf("first Read: card %v at %v, want a card at once", isCard(f.Image), f.Time.Sub(t0))
	}
	if c.State() != Lost || !errors.Is(c.Err(), errNoCamera) {
		t.Fatalf("state %v, err %v", c.State(), c.Err())
	}
	n := 1
	for isCard(read(t, c).Image) {
		n++
	}
	// Cards at 0, 40ms, ..., 2.0s; the camera opened at 0, 0.5s, ..., 2.0s.
	if n != 51 {
		t.Fatalf("%d cards, want 51", n)
	}
	os := c.Outages()
	if len(os) != 1 || !os[0].Start.Equal(t0) || !os[0].End.Equal(t0.Add(2*time.Second)) || !errors.Is(os[0].Err, errNoCamera) {
		t.Fatalf("Outages = %+v", os)
	}
	if got := o.callTimes(); len(got) != 5 || got[4] != 2*time.Second {
		t.Fatalf("opened at %v", got)
	}
}

func TestWrongSizeIsAFailureToOpen(t *testing.T) {
	clk := fakeclock.New(t0)
	wrong := cameratest.New(camera.Format{Width: 320, Height: 240, FPS: 25})
	o := &opener{clk: clk, results: []any{wrong}}
	c := newWrapper(t, clk, o, &recorder{}, nil)
	if f := read(t, c); !isCard(f.Image) {
		t.Fatal("a camera of the wrong size was used")
	}
	if wrong.Closed() != 1 {
		t.Fatalf("the wrong camera was closed %d times, want 1", wrong.Closed())
	}
	if err := c.Err(); err == nil || !strings.Contains(err.Error(), "delivers 320x240, configured 64x48") {
		t.Fatalf("Err = %v", err)
	}
}

func TestOtherFrameRatePassesThrough(t *testing.T) {
	clk := fakeclock.New(t0)
	fast := camera.Format{Width: 64, Height: 48, FPS: 30}
	cam := cameratest.New(fast)
	cam.Push(cameratest.Frames(fast, t0, 3)...)
	c := newWrapper(t, clk, &opener{clk: clk, results: []any{cam}}, &recorder{}, nil)
	for i := range 3 {
		if f := read(t, c); isCard(f.Image) || !f.Time.Equal(t0.Add(time.Duration(i)*time.Second/30)) {
			t.Fatalf("frame %d at %v", i, f.Time.Sub(t0))
		}
	}
}

// stallClock hands out a channel the test fires for every Stall wait, and
// the fake clock's for the rest.
type stallClock struct {
	clk    *fakeclock.Clock
	stalls chan chan time.Time
}

func (s stallClock) after(d time.Duration) <-chan time.Time {
	if d == DefaultStall {
		ch := make(chan time.Time, 1)
		s.stalls <- ch
		return ch
	}
	return s.clk.After(d)
}

func TestStallIsAnOutage(t *testing.T) {
	clk := fakeclock.New(t0)
	sc := stallClock{clk: clk, stalls: make(chan chan time.Time, 10)}
	cam := cameratest.New(format)
	cam.Push(cameratest.Frames(format, t0, 1)...)
	rec := &recorder{}
	c := newWrapper(t, clk, &opener{clk: clk, results: []any{cam}}, rec, func(cfg *Config) {
		cfg.Stall = 0 // the default
		cfg.After = sc.after
	})
	if f := read(t, c); isCard(f.Image) {
		t.Fatal("first frame is a card")
	}
	<-sc.stalls // the first Read's, which never fired
	go func() { (<-sc.stalls) <- t0 }()
	clk.Advance(2 * time.Second)
	f := read(t, c)
	if !isCard(f.Image) {
		t.Fatal("a silent camera gave no card")
	}
	// The reader was two seconds late: it gets the card of now, not a
	// backlog from 40 ms on.
	if !f.Time.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("card at %v, want 2s", f.Time.Sub(t0))
	}
	os := c.Outages()
	if len(os) != 1 || !errors.Is(os[0].Err, ErrStalled) || !os[0].Start.Equal(t0.Add(40*ms)) {
		t.Fatalf("Outages = %+v, want one from 40ms caused by ErrStalled", os)
	}
	if cam.Closed() != 1 {
		t.Fatalf("the silent camera was closed %d times", cam.Closed())
	}
}

func TestCloseAndCancel(t *testing.T) {
	never := func(time.Duration) <-chan time.Time { return make(chan time.Time) }
	t.Run("close while waiting for a card", func(t *testing.T) {
		clk := fakeclock.New(t0)
		c := newWrapper(t, clk, &opener{clk: clk}, &recorder{}, func(cfg *Config) { cfg.After = never })
		read(t, c) // the first card needs no wait
		errc := make(chan error)
		go func() {
			_, err := c.Read(context.Background())
			errc <- err
		}()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, camera.ErrClosed) {
			t.Fatalf("Read = %v, want ErrClosed", err)
		}
		if c.State() != Closed {
			t.Fatalf("state %v", c.State())
		}
	})
	t.Run("close while reading the camera", func(t *testing.T) {
		clk := fakeclock.New(t0)
		cam := cameratest.New(format)
		c := newWrapper(t, clk, &opener{clk: clk, results: []any{cam}}, &recorder{}, nil)
		errc := make(chan error)
		go func() {
			_, err := c.Read(context.Background())
			errc <- err
		}()
		for c.State() != Live {
			runtime.Gosched()
		}
		if err := c.Close(); err != nil || cam.Closed() != 1 {
			t.Fatalf("Close = %v; camera closed %d times", err, cam.Closed())
		}
		if err := <-errc; !errors.Is(err, camera.ErrClosed) {
			t.Fatalf("Read = %v, want ErrClosed", err)
		}
		if _, err := c.Read(context.Background()); !errors.Is(err, camera.ErrClosed) {
			t.Fatalf("Read after Close = %v", err)
		}
		if len(c.Outages()) != 0 {
			t.Fatalf("closing made an outage: %v", c.Outages())
		}
	})
	t.Run("cancel while reading the camera", func(t *testing.T) {
		clk := fakeclock.New(t0)
		cam := cameratest.New(format)
		c := newWrapper(t, clk, &opener{clk: clk, results: []any{cam}}, &recorder{}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.Read(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Read = %v", err)
		}
		cam.Push(cameratest.Frames(format, t0, 1)...)
		if f := read(t, c); isCard(f.Image) || c.State() != Live {
			t.Fatal("a cancelled Read cost the camera")
		}
	})
	t.Run("cancel while waiting for a card", func(t *testing.T) {
		clk := fakeclock.New(t0)
		c := newWrapper(t, clk, &opener{clk: clk}, &recorder{}, func(cfg *Config) { cfg.After = never })
		read(t, c)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error)
		go func() {
			_, err := c.Read(ctx)
			errc <- err
		}()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Read = %v", err)
		}
	})
}

func TestNewRejects(t *testing.T) {
	open := func(context.Context) (camera.Camera, error) { return nil, errNoCamera }
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no format", Config{Open: open}},
		{"odd size", Config{Format: camera.Format{Width: 63, Height: 48, FPS: 25}, Open: open}},
		{"no open", Config{Format: format}},
		{"negative retry", Config{Format: format, Open: open, Retry: -time.Second}},
	} {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: New = nil error", tc.name)
		}
	}
}

func TestTransitions(t *testing.T) {
	for _, tc := range []struct {
		s    State
		e    event
		next State
		act  action
	}{
		{Starting, opened, Live, 0},
		{Starting, openFailed, Lost, startOutage},
		{Starting, closing, Closed, 0},
		{Live, frame, Live, 0},
		{Live, readFailed, Lost, startOutage | closeCamera},
		{Live, closing, Closed, closeCamera},
		{Live, opened, Live, 0},
		{Lost, opened, Recovering, 0},
		{Lost, openFailed, Lost, 0},
		{Lost, frame, Lost, 0},
		{Lost, closing, Closed, 0},
		{Recovering, frame, Live, endOutage},
		{Recovering, readFailed, Lost, closeCamera},
		{Recovering, closing, Closed, closeCamera},
		{Closed, opened, Closed, 0},
		{Closed, frame, Closed, 0},
		{Closed, closing, Closed, 0},
	} {
		next, act := transition(tc.s, tc.e)
		if next != tc.next || act != tc.act {
			t.Errorf("%v + %v = %v, %b; want %v, %b", tc.s, tc.e, next, act, tc.next, tc.act)
		}
	}
	for s, name := range map[State]string{Starting: "starting", Live: "live", Lost: "lost", Recovering: "recovering", Closed: "closed", 9: "unknown"} {
		if s.String() != name {
			t.Errorf("State(%d) = %q, want %q", s, s.String(), name)
		}
	}
}

func TestCard(t *testing.T) {
	for _, sz := range []image.Point{{64, 48}, {1280, 720}, {1920, 1080}} {
		card := drawCard(sz.X, sz.Y)
		even, odd := cardAt(card, t0), cardAt(card, t0.Add(time.Second))
		at := func(img *image.YCbCr, x, y int) ycc {
			o := img.COffset(x, y)
			return ycc{img.Y[img.YOffset(x, y)], img.Cb[o], img.Cr[o]}
		}
		if got := at(even, 0, 0); got != cardGrey {
			t.Errorf("%v: corner %v, want dark grey", sz, got)
		}
		if got := at(even, sz.X/2, sz.Y/2); got != cardRed {
			t.Errorf("%v: centre %v, want the red stroke", sz, got)
		}
		u := unit(sz.X, sz.Y)
		if got := at(even, sz.X/2-5*u, sz.Y/2); got != cardLight {
			t.Errorf("%v: left edge of the camera %v, want light grey", sz, got)
		}
		b := blinkRect(sz.X, sz.Y).Min.Add(image.Pt(u/2, u/2))
		if at(even, b.X, b.Y) != cardLight || at(odd, b.X, b.Y) != cardGrey {
			t.Errorf("%v: the liveness square does not blink", sz)
		}
		even.Y[0] = 99
		if card.Y[0] == 99 {
			t.Fatal("cards share the template's pixels")
		}
	}
}

func TestOutageHistoryIsBounded(t *testing.T) {
	clk := fakeclock.New(t0)
	rec := &recorder{}
	c, err := New(Config{
		Format: format,
		Stall:  -1,
		Retry:  ms,
		// A camera that gives one frame and fails, every time.
		Open: func(context.Context) (camera.Camera, error) {
			cam := cameratest.New(format)
			cam.Push(cameratest.Frame(format, clk.Now().Add(ms), 100))
			cam.PushError(camera.ErrDisconnected)
			return cam, nil
		},
		OnOutage: rec.on,
		Now:      clk.Now,
		After:    clk.After,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for len(rec.got()) < 2*(keptOutages+10) {
		read(t, c)
	}
	os := c.Outages()
	seen := rec.got()
	if len(os) != keptOutages {
		t.Fatalf("%d outages kept, want %d", len(os), keptOutages)
	}
	if last := seen[len(seen)-1]; !os[len(os)-1].Start.Equal(last.Start) || !os[len(os)-1].End.Equal(last.End) {
		t.Fatalf("the newest outage kept is %+v, the newest seen %+v", os[len(os)-1], last)
	}
	for i := 1; i < len(os); i++ {
		if !os[i].Start.After(os[i-1].End) || os[i].End.IsZero() {
			t.Fatalf("outage %d %+v after %+v", i, os[i], os[i-1])
		}
	}
}
