package tone

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"twincap/drivers/audio"
	"twincap/drivers/internal/fakeclock"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func TestNewDefaultsAndRejects(t *testing.T) {
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Format(), (audio.Format{SampleRate: 48000, Channels: 1}); got != want {
		t.Fatalf("Format = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"negative rate", Config{SampleRate: -1}},
		{"negative channels", Config{Channels: -2}},
		{"chunk not whole samples", Config{SampleRate: 44100, Chunk: 10*time.Millisecond + time.Microsecond}},
		{"negative chunk", Config{Chunk: -time.Millisecond}},
		{"tone above Nyquist", Config{Frequency: 30000}},
		{"beep above Nyquist", Config{SampleRate: 1600, Frequency: 100, Chunk: 10 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Fatalf("New(%+v) = nil error", tc.cfg)
			}
		})
	}
}

// read reads n chunks and checks that they are back to back.
func read(t *testing.T, m *Microphone, n int) []int16 {
	t.Helper()
	var all []int16
	f := m.Format()
	for i := range n {
		c, err := m.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		frames := c.Frames(f.Channels)
		want := t0.Add(time.Duration(i*frames) * time.Second / time.Duration(f.SampleRate))
		if !c.Time.Equal(want) {
			t.Fatalf("chunk %d at %v, want %v", i, c.Time.Sub(t0), want.Sub(t0))
		}
		all = append(all, c.Samples...)
	}
	return all
}

func TestUnpacedChunksAreContinuous(t *testing.T) {
	for _, tc := range []struct {
		rate, channels int
		chunk          time.Duration
	}{
		{48000, 1, 20 * time.Millisecond},
		{48000, 2, 10 * time.Millisecond},
		{16000, 1, 30 * time.Millisecond},
		{44100, 2, 10 * time.Millisecond},
	} {
		clk := fakeclock.New(t0)
		m, err := New(Config{SampleRate: tc.rate, Channels: tc.channels, Chunk: tc.chunk, Now: clk.Now, After: clk.After})
		if err != nil {
			t.Fatal(err)
		}
		n := int(2 * time.Second / tc.chunk)
		got := read(t, m, n)
		frames := int(int64(tc.chunk)*int64(tc.rate)/int64(time.Second)) * n
		if want := Generate(0, frames, tc.rate, tc.channels, DefaultFrequency); !slices.Equal(got, want) {
			t.Fatalf("%+v: chunks do not join into one continuous signal", tc)
		}
		if w := clk.Waits(); len(w) != 0 {
			t.Fatalf("unpaced tone waited %v", w)
		}
	}
}

func TestPacedDeliversEachChunkWhenCaptured(t *testing.T) {
	clk := fakeclock.New(t0)
	m, err := New(Config{Paced: true, Now: clk.Now, After: clk.After})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := m.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(time.Duration(i+1) * 20 * time.Millisecond); !clk.Now().Equal(want) {
			t.Fatalf("chunk %d delivered at %v, want %v (when its last sample is captured)", i, clk.Now().Sub(t0), want.Sub(t0))
		}
	}
	// A reader a second late gets the backlog at once, nothing skipped.
	clk.Waits()
	clk.Advance(time.Second)
	for i := range 50 {
		c, err := m.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(time.Duration(5+i) * 20 * time.Millisecond); !c.Time.Equal(want) {
			t.Fatalf("backlog chunk %d at %v, want %v", i, c.Time.Sub(t0), want.Sub(t0))
		}
	}
	if w := clk.Waits(); len(w) != 0 {
		t.Fatalf("waited %v while behind", w)
	}
	if _, err := m.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w := clk.Waits(); len(w) != 1 || w[0] != 20*time.Millisecond {
		t.Fatalf("caught up: waited %v, want [20ms]", w)
	}
}

func TestBeepsForTheFirst100msOfEverySecond(t *testing.T) {
	const rate = 48000
	s := Generate(0, 3*rate, rate, 1, DefaultFrequency)
	peak := func(from, to int) int {
		p := 0
		for _, v := range s[from:to] {
			p = max(p, int(v), -int(v))
		}
		return p
	}
	ms := rate / 1000
	for sec := range 3 {
		o := sec * rate
		if p := peak(o, o+100*ms); p < beepLevel*9/10 {
			t.Errorf("second %d: beep peak %d, want about %d", sec, p, beepLevel)
		}
		if p := peak(o+100*ms, o+rate); p > toneLevel+1 || p < toneLevel*9/10 {
			t.Errorf("second %d: tone peak %d, want about %d", sec, p, toneLevel)
		}
		if !IsBeep(int64(o), rate) || IsBeep(int64(o+100*ms), rate) {
			t.Errorf("second %d: IsBeep wrong at the edges", sec)
		}
	}
	st := Generate(0, 1000, rate, 2, DefaultFrequency)
	for i := 0; i < len(st); i += 2 {
		if st[i] != st[i+1] {
			t.Fatalf("stereo frame %d: channels differ", i/2)
		}
	}
}

func TestCloseAndCancel(t *testing.T) {
	never := func(time.Duration) <-chan time.Time { return make(chan time.Time) }
	t.Run("close during a wait", func(t *testing.T) {
		m, err := New(Config{Paced: true, After: never})
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error)
		go func() {
			_, err := m.Read(context.Background())
			errc <- err
		}()
		m.Close()
		if err := <-errc; !errors.Is(err, audio.ErrClosed) {
			t.Fatalf("Read = %v, want ErrClosed", err)
		}
		if _, err := m.Read(context.Background()); !errors.Is(err, audio.ErrClosed) {
			t.Fatalf("Read after Close = %v, want ErrClosed", err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("cancel during a wait", func(t *testing.T) {
		m, err := New(Config{Paced: true, After: never})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error)
		go func() {
			_, err := m.Read(ctx)
			errc <- err
		}()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Read = %v, want context.Canceled", err)
		}
	})
}
