package alsa

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"twincap/drivers/audio"
	"twincap/drivers/internal/fakeclock"
)

// fakeStream is a capture stream the test drives: deliver plays the
// capture thread.
type fakeStream struct {
	cfg     Config
	data    func([]int16)
	stopped func(error)
	mu      sync.Mutex
	closed  int
}

func (s *fakeStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed++
	return nil
}

func (s *fakeStream) closes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// rig is a microphone on a fake stream and a fake clock.
type rig struct {
	clk *fakeclock.Clock
	s   *fakeStream
	m   *Microphone
	n   int16 // the next sample value, so lost or repeated samples show
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	r := &rig{clk: fakeclock.New(t0)}
	cfg.Now = r.clk.Now
	m, err := open(cfg, func(cfg Config, data func([]int16), stopped func(error)) (stream, error) {
		r.s = &fakeStream{cfg: cfg, data: data, stopped: stopped}
		return r.s, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	t.Cleanup(func() { m.Close() })
	return r
}

// deliver advances the clock by after and hands over one period.
func (r *rig) deliver(after time.Duration) {
	r.clk.Advance(after)
	f := r.s.cfg.Format
	s := make([]int16, r.s.cfg.periodFrames()*f.Channels)
	for i := range s {
		s[i] = r.n + int16(i/f.Channels)
	}
	r.n += int16(len(s) / f.Channels)
	r.s.data(s)
}

func read(t *testing.T, m *Microphone) audio.Chunk {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := m.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChunksAreStampedBackToBack(t *testing.T) {
	r := newRig(t, Config{Format: audio.Format{SampleRate: 48000, Channels: 2}})
	if got := r.s.cfg; got.Device != "default" || got.Period != 20*ms || got.Periods != 8 || got.periodFrames() != 960 {
		t.Fatalf("the stream was started with %+v", got)
	}
	for range 3 {
		r.deliver(period)
	}
	for i := range 3 {
		c := read(t, r.m)
		if want := t0.Add(time.Duration(i) * period); !c.Time.Equal(want) {
			t.Fatalf("chunk %d at %v, want %v", i, c.Time.Sub(t0), want.Sub(t0))
		}
		if c.Frames(2) != 960 || c.Samples[0] != int16(960*i) || c.Samples[1] != int16(960*i) || c.Samples[1919] != int16(960*i+959) {
			t.Fatalf("chunk %d holds the wrong samples", i)
		}
	}
	if s := r.m.Stats(); s != (Stats{}) {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestHoleIsFilledWithSilence(t *testing.T) {
	r := newRig(t, Config{Format: audio.Format{SampleRate: 48000, Channels: 1}})
	for range 10 {
		r.deliver(period)
	}
	// 1.5 s of samples lost, then the periods come on time again; the
	// hole is sure once they have been late for 100 ms.
	r.deliver(1500*ms + period)
	for range 10 {
		r.deliver(period)
	}
	var got []string
	next := t0
	for range 10 + 2 + 11 {
		c := read(t, r.m)
		if !c.Time.Equal(next) {
			t.Fatalf("chunk at %v, want %v: not back to back", c.Time.Sub(t0), next.Sub(t0))
		}
		d := frames(int64(c.Frames(1)), 48000)
		next = next.Add(d)
		kind := "s"
		if c.Samples[0] == 0 && c.Samples[len(c.Samples)-1] == 0 && d != period {
			kind = "0"
		}
		got = append(got, kind+d.String())
	}
	// Ten periods, five late ones stamped before the hole was sure, the
	// silence (1 s, then 0.5 s), the rest.
	want := strings.Repeat("s20ms ", 15) + "01s 0500ms " + strings.Repeat("s20ms ", 6)
	if strings.Join(got, " ")+" " != want {
		t.Fatalf("chunks %v\nwant   %v", got, want)
	}
	if s := r.m.Stats(); s.Holes != 1 || s.Silence != 1500*ms {
		t.Fatalf("Stats = %+v, want one hole of 1.5s", s)
	}
	if end := next; !end.Equal(r.clk.Now()) {
		t.Fatalf("the samples end at %v, the clock reads %v", end.Sub(t0), r.clk.Now().Sub(t0))
	}
}

func TestSlowReaderLosesTheOldest(t *testing.T) {
	r := newRig(t, Config{})
	for range maxQueued + 10 {
		r.deliver(period)
	}
	if s := r.m.Stats(); s.Dropped != 10 {
		t.Fatalf("Stats = %+v, want 10 dropped", s)
	}
	if c := read(t, r.m); !c.Time.Equal(t0.Add(10 * period)) {
		t.Fatalf("first chunk at %v, want the eleventh period's", c.Time.Sub(t0))
	}
}

func TestDisconnect(t *testing.T) {
	r := newRig(t, Config{Device: "hw:Loopback,1,0"})
	r.deliver(period)
	r.s.stopped(errors.New("the device stopped"))
	r.s.stopped(errors.New("again"))
	if c := read(t, r.m); c.Frames(1) != 960 {
		t.Fatal("the chunk queued before the device stopped was lost")
	}
	_, err := r.m.Read(context.Background())
	if !errors.Is(err, audio.ErrDisconnected) || !strings.Contains(err.Error(), `"hw:Loopback,1,0"`) || strings.Contains(err.Error(), "again") {
		t.Fatalf("Read = %v, want ErrDisconnected naming the device", err)
	}
}

func TestCloseAndCancel(t *testing.T) {
	t.Run("close wakes a Read and stops the stream", func(t *testing.T) {
		r := newRig(t, Config{})
		errc := make(chan error)
		go func() {
			_, err := r.m.Read(context.Background())
			errc <- err
		}()
		if err := r.m.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, audio.ErrClosed) {
			t.Fatalf("Read = %v, want ErrClosed", err)
		}
		r.deliver(period) // a late callback is ignored
		if _, err := r.m.Read(context.Background()); !errors.Is(err, audio.ErrClosed) {
			t.Fatalf("Read after Close = %v", err)
		}
		if err := r.m.Close(); err != nil || r.s.closes() != 1 {
			t.Fatalf("second Close = %v; stream closed %d times", err, r.s.closes())
		}
	})
	t.Run("cancel", func(t *testing.T) {
		r := newRig(t, Config{})
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error)
		go func() {
			_, err := r.m.Read(ctx)
			errc <- err
		}()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Read = %v", err)
		}
	})
}

func TestConfig(t *testing.T) {
	cfg, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Device != "default" || cfg.Format != (audio.Format{SampleRate: 48000, Channels: 1}) || cfg.Period != DefaultPeriod ||
		cfg.Periods != DefaultPeriods || cfg.HoleThreshold != DefaultHoleThreshold || cfg.HoleConfirm != DefaultHoleConfirm || cfg.Now == nil {
		t.Fatalf("defaults: %+v", cfg)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"negative rate", Config{Format: audio.Format{SampleRate: -1}}},
		{"negative channels", Config{Format: audio.Format{Channels: -1}}},
		{"period not whole samples", Config{Format: audio.Format{SampleRate: 44100}, Period: 20*ms + time.Microsecond}},
		{"period too short", Config{Period: time.Microsecond * 500}},
		{"one period", Config{Periods: 1}},
		{"negative threshold", Config{HoleThreshold: -ms}},
	} {
		if _, err := tc.cfg.withDefaults(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	start := func(Config, func([]int16), func(error)) (stream, error) { return nil, errors.New("busy") }
	if _, err := open(Config{}, start); err == nil || err.Error() != "busy" {
		t.Fatalf("open with a failing start = %v", err)
	}
	if _, err := open(Config{Periods: 1}, func(Config, func([]int16), func(error)) (stream, error) {
		t.Fatal("started with a bad config")
		return nil, nil
	}); err == nil {
		t.Fatal("bad config accepted")
	}
}
