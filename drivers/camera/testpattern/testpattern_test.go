package testpattern

import (
	"context"
	"errors"
	"image"
	"testing"
	"time"

	"twincap/drivers/camera"
	"twincap/drivers/internal/fakeclock"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"zero", Config{}},
		{"odd width", Config{Width: 321, Height: 240, FPS: 15}},
		{"odd height", Config{Width: 320, Height: 241, FPS: 15}},
		{"no fps", Config{Width: 320, Height: 240}},
		{"negative fps", Config{Width: 320, Height: 240, FPS: -1}},
		{"too small", Config{Width: 32, Height: 24, FPS: 15}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Fatalf("New(%+v) = nil error", tc.cfg)
			}
		})
	}
}

func TestFormatAndImage(t *testing.T) {
	c, err := New(Config{Width: 320, Height: 240, FPS: 15, Now: fakeclock.New(t0).Now})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Format(), (camera.Format{Width: 320, Height: 240, FPS: 15}); got != want {
		t.Fatalf("Format = %v, want %v", got, want)
	}
	f, err := c.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f.Image.Rect != image.Rect(0, 0, 320, 240) || f.Image.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		t.Fatalf("image %v %v, want 320x240 4:2:0", f.Image.Rect, f.Image.SubsampleRatio)
	}
	if f.Image.YStride != 320 || f.Image.CStride != 160 {
		t.Fatalf("strides %d/%d, want packed 320/160", f.Image.YStride, f.Image.CStride)
	}
}

func TestUnpacedStampsFramesOnePeriodApart(t *testing.T) {
	clk := fakeclock.New(t0)
	c, err := New(Config{Width: 320, Height: 240, FPS: 30, Now: clk.Now, After: clk.After})
	if err != nil {
		t.Fatal(err)
	}
	for n := range 100 {
		f, err := c.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(time.Duration(n) * time.Second / 30); !f.Time.Equal(want) {
			t.Fatalf("frame %d at %v, want %v", n, f.Time.Sub(t0), want.Sub(t0))
		}
	}
	if w := clk.Waits(); len(w) != 0 {
		t.Fatalf("unpaced pattern waited %v", w)
	}
}

func TestPacedWaitsForEachFrame(t *testing.T) {
	clk := fakeclock.New(t0)
	c, err := New(Config{Width: 320, Height: 240, FPS: 25, Paced: true, Now: clk.Now, After: clk.After})
	if err != nil {
		t.Fatal(err)
	}
	for n := range 10 {
		f, err := c.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := t0.Add(time.Duration(n) * 40 * time.Millisecond)
		if !f.Time.Equal(want) || !clk.Now().Equal(want) {
			t.Fatalf("frame %d stamped %v at clock %v, want both %v", n, f.Time.Sub(t0), clk.Now().Sub(t0), want.Sub(t0))
		}
	}
	waits := clk.Waits()
	if len(waits) != 9 {
		t.Fatalf("waited %d times, want 9 (none before the first frame)", len(waits))
	}
	for _, w := range waits {
		if w != 40*time.Millisecond {
			t.Fatalf("waited %v, want 40ms", w)
		}
	}
}

func TestPacedDropsFramesWhenTheReaderIsLate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		late      time.Duration // after frame 0
		wantFrame int64
		wantWait  time.Duration
	}{
		{"on time", 0, 1, 40 * time.Millisecond},
		{"within the period", 30 * time.Millisecond, 1, 10 * time.Millisecond},
		{"one period", 40 * time.Millisecond, 1, 0},
		{"3.5 periods", 140 * time.Millisecond, 3, 0},
		{"an hour", time.Hour + 20*time.Millisecond, 90000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := fakeclock.New(t0)
			c, err := New(Config{Width: 320, Height: 240, FPS: 25, Paced: true, Now: clk.Now, After: clk.After})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Read(context.Background()); err != nil {
				t.Fatal(err)
			}
			clk.Advance(tc.late)
			f, err := c.Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if want := t0.Add(time.Duration(tc.wantFrame) * 40 * time.Millisecond); !f.Time.Equal(want) {
				t.Fatalf("got frame at %v, want frame %d at %v", f.Time.Sub(t0), tc.wantFrame, want.Sub(t0))
			}
			var waited time.Duration
			for _, w := range clk.Waits() {
				waited += w
			}
			if waited != tc.wantWait {
				t.Fatalf("waited %v, want %v", waited, tc.wantWait)
			}
		})
	}
}

func TestCloseAndCancel(t *testing.T) {
	never := func(time.Duration) <-chan time.Time { return make(chan time.Time) }
	newCam := func(t *testing.T) *Camera {
		c, err := New(Config{Width: 320, Height: 240, FPS: 25, Paced: true, After: never})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(context.Background()); err != nil { // frame 0 needs no wait
			t.Fatal(err)
		}
		return c
	}
	t.Run("close during a wait", func(t *testing.T) {
		c := newCam(t)
		errc := make(chan error)
		go func() {
			_, err := c.Read(context.Background())
			errc <- err
		}()
		c.Close()
		if err := <-errc; !errors.Is(err, camera.ErrClosed) {
			t.Fatalf("Read = %v, want ErrClosed", err)
		}
		if _, err := c.Read(context.Background()); !errors.Is(err, camera.ErrClosed) {
			t.Fatalf("Read after Close = %v, want ErrClosed", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
	t.Run("cancel during a wait", func(t *testing.T) {
		c := newCam(t)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error)
		go func() {
			_, err := c.Read(ctx)
			errc <- err
		}()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Read = %v, want context.Canceled", err)
		}
	})
}

// readText decodes the seven-segment text drawn at (x, y) by looking at
// the middle of every segment, so the clock is checked as a viewer sees it.
func readText(img *image.YCbCr, l layout, x, y int, chars int) string {
	lit := func(r image.Rectangle) bool {
		c := r.Min.Add(r.Max).Div(2)
		return img.Y[img.YOffset(c.X, c.Y)] == white.y
	}
	var out []rune
	for range chars {
		// Points are told from digits by where no digit segment lies:
		// right of the left column, a third of the way down (colon), and
		// at the bottom where segment a is dark (full stop).
		dotHigh := lit(image.Rect(x+l.t, y+l.dh/3-l.t/2, x+2*l.t, y+l.dh/3+l.t/2+l.t%2))
		dotLow := lit(image.Rect(x+l.t, y+l.dh-l.t, x+2*l.t, y+l.dh))
		segs := l.segRects(x, y)
		switch {
		case dotHigh:
			out = append(out, ':')
			x += l.advance(':')
			continue
		case dotLow && !lit(segs[0]):
			out = append(out, '.')
			x += l.advance('.')
			continue
		}
		bits := 0
		for i, r := range segs {
			if lit(r) {
				bits |= 1 << i
			}
		}
		c := '?'
		for r, g := range glyphs {
			if g == bits {
				c = r
			}
		}
		out = append(out, c)
		x += l.advance(c)
	}
	return string(out)
}

func TestClockReadsElapsedTimeAndFrameNumber(t *testing.T) {
	for _, tc := range []struct {
		w, h, fps int
		n         int64
		time      string
		frame     string
	}{
		{320, 240, 15, 0, "00:00:00.000", "F000000"},
		{320, 240, 15, 16, "00:00:01.066", "F000016"},
		{1280, 720, 30, 30*3723 + 14, "01:02:03.466", "F111704"},
		{1920, 1080, 25, 25*(99*3600+59*60+59) + 24, "99:59:59.960", "F8999999"},
		{160, 120, 30, 7, "00:00:00.233", "F000007"},
	} {
		img := image.NewYCbCr(image.Rect(0, 0, tc.w, tc.h), image.YCbCrSubsampleRatio420)
		Draw(img, tc.n, tc.fps)
		l := newLayout(tc.h)
		if got := readText(img, l, l.margin, l.margin, len(tc.time)); got != tc.time {
			t.Errorf("%dx%d frame %d: clock reads %q, want %q", tc.w, tc.h, tc.n, got, tc.time)
		}
		if got := readText(img, l, l.margin, 2*l.margin+l.dh, len(tc.frame)); got != tc.frame {
			t.Errorf("%dx%d frame %d: frame number reads %q, want %q", tc.w, tc.h, tc.n, got, tc.frame)
		}
	}
}

func TestPictureMovesAndFlashes(t *testing.T) {
	const w, h, fps = 320, 240, 30
	draw := func(n int64) *image.YCbCr {
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		Draw(img, n, fps)
		return img
	}
	// Below the clock panel, consecutive frames differ (bars scroll, the
	// box moves).
	a, b := draw(40), draw(41)
	l := newLayout(h)
	panelBottom := 2*(l.dh+l.margin) + l.margin
	differ := 0
	for y := panelBottom; y < h; y++ {
		for x := range w {
			if a.Y[a.YOffset(x, y)] != b.Y[b.YOffset(x, y)] {
				differ++
			}
		}
	}
	if differ < w {
		t.Fatalf("frames 40 and 41 differ in %d pixels below the clock; the picture does not move", differ)
	}
	fs := even(h / 8)
	flashAt := func(img *image.YCbCr) uint8 { return img.Y[img.YOffset(w-fs/4-fs/2, fs/4+fs/2)] }
	for _, tc := range []struct {
		n   int64
		lit bool
	}{{0, true}, {2, true}, {3, false}, {29, false}, {30, true}, {33, false}, {60, true}} {
		if got := flashAt(draw(tc.n)) == white.y; got != tc.lit {
			t.Errorf("frame %d: flash lit = %v, want %v", tc.n, got, tc.lit)
		}
	}
}

func BenchmarkDraw1080p(b *testing.B) {
	img := image.NewYCbCr(image.Rect(0, 0, 1920, 1080), image.YCbCrSubsampleRatio420)
	for i := 0; b.Loop(); i++ {
		Draw(img, int64(i), 30)
	}
}

func TestStampRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		w, h int
		at   time.Time
	}{
		{320, 240, t0},
		{320, 240, t0.Add(1234567 * time.Millisecond)},
		{1280, 720, t0.Add(-time.Millisecond)},
		{64, 48, time.UnixMilli(1<<StampBits - 1)},
		{1920, 1080, time.UnixMilli(1 << StampBits)},
	} {
		img := image.NewYCbCr(image.Rect(0, 0, tc.w, tc.h), image.YCbCrSubsampleRatio420)
		// Every frame of the pattern's first two seconds: the bouncing
		// box must not reach into the strip once it is stamped.
		for n := int64(0); n < 60; n += 7 {
			Draw(img, n, 30)
			Stamp(img, tc.at)
			ms, ok := ReadStamp(img)
			if !ok || ms != uint32(tc.at.UnixMilli())&(1<<StampBits-1) {
				t.Fatalf("%dx%d frame %d: ReadStamp = %d, %v; want %d", tc.w, tc.h, n, ms, ok, tc.at.UnixMilli()&(1<<StampBits-1))
			}
			if age := StampAge(ms, tc.at.Add(321*time.Millisecond)); age != 321*time.Millisecond {
				t.Fatalf("StampAge = %v, want 321ms", age)
			}
		}
	}
}

func TestUnstampedPictureDoesNotRead(t *testing.T) {
	img := image.NewYCbCr(image.Rect(0, 0, 320, 240), image.YCbCrSubsampleRatio420)
	for n := int64(0); n < 120; n += 11 {
		Draw(img, n, 30)
		if ms, ok := ReadStamp(img); ok {
			t.Fatalf("frame %d without a stamp reads as %d", n, ms)
		}
	}
}

func TestReadStampsWhatThePatternCaptured(t *testing.T) {
	clk := fakeclock.New(t0)
	c, err := New(Config{Width: 320, Height: 240, FPS: 15, Stamp: true, Now: clk.Now, After: clk.After})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		f, err := c.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ms, ok := ReadStamp(f.Image)
		if !ok || StampAge(ms, f.Time) != 0 {
			t.Fatalf("frame at %v: stamp %d (%v), age %v", f.Time, ms, ok, StampAge(ms, f.Time))
		}
	}
}
