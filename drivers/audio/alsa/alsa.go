package alsa

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"twincap/drivers/audio"
)

// Defaults for zero Config fields.
const (
	DefaultDevice        = "default"
	DefaultSampleRate    = 48000
	DefaultChannels      = 1
	DefaultPeriod        = 20 * time.Millisecond
	DefaultPeriods       = 8
	DefaultHoleThreshold = 40 * time.Millisecond
	DefaultHoleConfirm   = 100 * time.Millisecond
)

// Limits on what waits for the reader.
const (
	// maxQueued periods (10 s at the default period) wait for a slow
	// reader; beyond, the oldest are dropped and counted.
	maxQueued = 500
	// maxSilenceChunk bounds one chunk of filled-in silence.
	maxSilenceChunk = time.Second
)

// Config describes the microphone. Zero fields take the defaults above.
type Config struct {
	// Device is the ALSA PCM name: "default", "hw:Loopback,1,0",
	// "plughw:CARD=Device,DEV=0", "dsnoop:1" ... (as arecord -L lists
	// them).
	Device string
	// Format is what Read delivers; ALSA (through miniaudio) converts
	// from what the card has.
	Format audio.Format
	// Period is the length of one chunk, and of the card's periods; it
	// must be a whole number of samples.
	Period time.Duration
	// Periods is the card's buffer, in periods: how long the box may fail
	// to read before samples are lost.
	Periods int
	// HoleThreshold is how far behind the wall clock the samples may fall
	// before the gap is filled with silence, and HoleConfirm how long they
	// must stay behind first (see timeline).
	HoleThreshold time.Duration
	HoleConfirm   time.Duration
	// Now is the clock chunks are stamped with: time.Now, the camera's.
	Now func() time.Time
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Device == "" {
		cfg.Device = DefaultDevice
	}
	if cfg.Format.SampleRate == 0 {
		cfg.Format.SampleRate = DefaultSampleRate
	}
	if cfg.Format.Channels == 0 {
		cfg.Format.Channels = DefaultChannels
	}
	if cfg.Period == 0 {
		cfg.Period = DefaultPeriod
	}
	if cfg.Periods == 0 {
		cfg.Periods = DefaultPeriods
	}
	if cfg.HoleThreshold == 0 {
		cfg.HoleThreshold = DefaultHoleThreshold
	}
	if cfg.HoleConfirm == 0 {
		cfg.HoleConfirm = DefaultHoleConfirm
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Format.Validate(); err != nil {
		return cfg, fmt.Errorf("alsa: %w", err)
	}
	switch {
	case cfg.Period < time.Millisecond || int64(cfg.Period)*int64(cfg.Format.SampleRate)%int64(time.Second) != 0:
		return cfg, fmt.Errorf("alsa: period %v is not a whole number of samples (of at least 1 ms) at %d Hz", cfg.Period, cfg.Format.SampleRate)
	case cfg.Periods < 2:
		return cfg, fmt.Errorf("alsa: %d periods: the card needs at least 2", cfg.Periods)
	case cfg.HoleThreshold < 0 || cfg.HoleConfirm < 0:
		return cfg, errors.New("alsa: hole threshold and confirm must not be negative")
	}
	return cfg, nil
}

func (cfg Config) periodFrames() int {
	return int(int64(cfg.Period) * int64(cfg.Format.SampleRate) / int64(time.Second))
}

// Stats counts what the microphone did to keep the stream whole.
type Stats struct {
	// Holes is how many times lost samples were filled with silence, and
	// Silence how much was filled in all.
	Holes   int64
	Silence time.Duration
	// Dropped is how many chunks a slow reader lost (the queue was full).
	Dropped int64
}

// stream is a started capture stream. malgo.go starts the real one; the
// tests start a fake.
type stream interface {
	Close() error
}

// starter starts capture as cfg says. It calls data with each period of
// interleaved samples (which data may keep), one call at a time on a
// thread of its own, and stopped if the device stops by itself.
type starter func(cfg Config, data func([]int16), stopped func(error)) (stream, error)

// Microphone is an ALSA capture device. It implements audio.Microphone.
type Microphone struct {
	cfg    Config
	stream stream
	tl     timeline // owned by the capture thread, in data

	mu     sync.Mutex
	queue  []entry
	wake   chan struct{} // closed and replaced when something changes
	closed bool
	err    error // why the device stopped by itself
	stats  Stats

	closeOnce sync.Once
	closeErr  error
}

var _ audio.Microphone = (*Microphone)(nil)

// entry is one queued chunk, or a run of silence.
type entry struct {
	samples []int16
	silence int64 // frames, when samples is nil
	at      time.Time
}

func open(cfg Config, start starter) (*Microphone, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Microphone{
		cfg:  cfg,
		tl:   timeline{rate: int64(cfg.Format.SampleRate), threshold: cfg.HoleThreshold, confirm: cfg.HoleConfirm},
		wake: make(chan struct{}),
	}
	s, err := start(cfg, m.data, m.stopped)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.stream = s
	m.mu.Unlock()
	return m, nil
}

// Format implements audio.Microphone.
func (m *Microphone) Format() audio.Format { return m.cfg.Format }

// Device is the ALSA name the microphone was opened with.
func (m *Microphone) Device() string { return m.cfg.Device }

// Stats reports the holes filled and chunks dropped so far.
func (m *Microphone) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// data is the capture thread's entry: it stamps a period and queues it,
// with the silence of a hole before it.
func (m *Microphone) data(samples []int16) {
	now := m.cfg.Now()
	p := m.tl.place(now, len(samples)/m.cfg.Format.Channels)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if p.silence > 0 {
		m.stats.Holes++
		m.stats.Silence += frames(p.silence, int64(m.cfg.Format.SampleRate))
		m.queue = append(m.queue, entry{silence: p.silence, at: p.silenceAt})
	}
	m.queue = append(m.queue, entry{samples: samples, at: p.at})
	if n := len(m.queue) - maxQueued; n > 0 {
		m.stats.Dropped += int64(n)
		m.queue = append(m.queue[:0], m.queue[n:]...)
	}
	m.changed()
}

// stopped is told that the device stopped by itself: it was unplugged,
// or the driver failed.
func (m *Microphone) stopped(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.err != nil {
		return
	}
	m.err = fmt.Errorf("alsa: capture device %q stopped: %v: %w", m.cfg.Device, err, audio.ErrDisconnected)
	m.changed()
}

func (m *Microphone) changed() {
	close(m.wake)
	m.wake = make(chan struct{})
}

// Read implements audio.Microphone. Chunks are one period long, or up to
// a second of silence where samples were lost. After the device stops by
// itself, what was queued is delivered first, then an error wrapping
// audio.ErrDisconnected.
func (m *Microphone) Read(ctx context.Context) (audio.Chunk, error) {
	for {
		m.mu.Lock()
		switch {
		case m.closed:
			m.mu.Unlock()
			return audio.Chunk{}, audio.ErrClosed
		case len(m.queue) > 0:
			c := m.take()
			m.mu.Unlock()
			return c, nil
		case m.err != nil:
			err := m.err
			m.mu.Unlock()
			return audio.Chunk{}, err
		}
		wake := m.wake
		m.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return audio.Chunk{}, ctx.Err()
		}
	}
}

// take removes the first chunk from the queue; mu is held.
func (m *Microphone) take() audio.Chunk {
	e := &m.queue[0]
	if e.samples != nil {
		c := audio.Chunk{Samples: e.samples, Time: e.at}
		m.queue = m.queue[1:]
		return c
	}
	rate := int64(m.cfg.Format.SampleRate)
	n := min(e.silence, int64(maxSilenceChunk)*rate/int64(time.Second))
	c := audio.Chunk{Samples: make([]int16, n*int64(m.cfg.Format.Channels)), Time: e.at}
	e.silence -= n
	e.at = e.at.Add(frames(n, rate))
	if e.silence == 0 {
		m.queue = m.queue[1:]
	}
	return c
}

// Close implements audio.Microphone: it stops capture and releases the
// device, and makes a pending Read return audio.ErrClosed.
func (m *Microphone) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.queue = nil
		s := m.stream
		m.changed()
		m.mu.Unlock()
		if s != nil {
			if err := s.Close(); err != nil {
				m.closeErr = fmt.Errorf("alsa: close capture device %q: %w", m.cfg.Device, err)
			}
		}
	})
	return m.closeErr
}
