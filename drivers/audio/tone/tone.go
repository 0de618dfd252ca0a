package tone

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"twincap/drivers/audio"
)

// Defaults for zero Config fields.
const (
	DefaultSampleRate = 48000
	DefaultChannels   = 1
	DefaultChunk      = 20 * time.Millisecond
	DefaultFrequency  = 440.0
	BeepFrequency     = 1000.0
	BeepDuration      = 100 * time.Millisecond
)

// Levels (peak, in int16 units): the tone about -20 dBFS, the beep -6 dBFS.
const (
	toneLevel = 3277
	beepLevel = 16384
)

// Config describes the tone. Zero fields take the defaults above; zero Now
// and After mean the real clock.
type Config struct {
	SampleRate int
	Channels   int
	// Chunk is the length of one Read; it must be a whole number of samples.
	Chunk     time.Duration
	Frequency float64
	// Paced delivers chunks in real time; otherwise Read returns at once.
	Paced bool
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Microphone is the tone source. It implements audio.Microphone.
type Microphone struct {
	cfg    Config
	format audio.Format
	frames int // sample frames per chunk

	// Owned by the reading goroutine.
	started bool
	start   time.Time
	pos     int64 // index of the next sample frame

	done      chan struct{}
	closeOnce sync.Once
}

var _ audio.Microphone = (*Microphone)(nil)

// New fills defaults, checks cfg and returns a tone whose clock starts at
// the first Read.
func New(cfg Config) (*Microphone, error) {
	if cfg.SampleRate == 0 {
		cfg.SampleRate = DefaultSampleRate
	}
	if cfg.Channels == 0 {
		cfg.Channels = DefaultChannels
	}
	if cfg.Chunk == 0 {
		cfg.Chunk = DefaultChunk
	}
	if cfg.Frequency == 0 {
		cfg.Frequency = DefaultFrequency
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	f := audio.Format{SampleRate: cfg.SampleRate, Channels: cfg.Channels}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("tone: %w", err)
	}
	if cfg.Chunk < 0 || int64(cfg.Chunk)*int64(cfg.SampleRate)%int64(time.Second) != 0 {
		return nil, fmt.Errorf("tone: chunk %v is not a whole number of samples at %d Hz", cfg.Chunk, cfg.SampleRate)
	}
	if cfg.Frequency < 0 || cfg.Frequency >= float64(cfg.SampleRate)/2 || BeepFrequency >= float64(cfg.SampleRate)/2 {
		return nil, fmt.Errorf("tone: %v Hz (and the %v Hz beep) must be below half the sample rate %d", cfg.Frequency, BeepFrequency, cfg.SampleRate)
	}
	return &Microphone{
		cfg:    cfg,
		format: f,
		frames: int(int64(cfg.Chunk) * int64(cfg.SampleRate) / int64(time.Second)),
		done:   make(chan struct{}),
	}, nil
}

// Format implements audio.Microphone.
func (m *Microphone) Format() audio.Format { return m.format }

// sampleTime is the capture time of sample frame i, exact to the
// nanosecond.
func (m *Microphone) sampleTime(i int64) time.Time {
	rate := int64(m.cfg.SampleRate)
	return m.start.Add(time.Duration(i/rate)*time.Second + time.Duration(i%rate)*time.Second/time.Duration(rate))
}

// Read implements audio.Microphone.
func (m *Microphone) Read(ctx context.Context) (audio.Chunk, error) {
	select {
	case <-m.done:
		return audio.Chunk{}, audio.ErrClosed
	case <-ctx.Done():
		return audio.Chunk{}, ctx.Err()
	default:
	}
	if !m.started {
		m.started, m.start = true, m.cfg.Now()
	}
	first := m.pos
	if m.cfg.Paced {
		// A chunk is ready once its last sample has been captured.
		if wait := m.sampleTime(first + int64(m.frames)).Sub(m.cfg.Now()); wait > 0 {
			select {
			case <-m.cfg.After(wait):
			case <-m.done:
				return audio.Chunk{}, audio.ErrClosed
			case <-ctx.Done():
				return audio.Chunk{}, ctx.Err()
			}
		}
	}
	m.pos += int64(m.frames)
	return audio.Chunk{Samples: Generate(first, m.frames, m.cfg.SampleRate, m.cfg.Channels, m.cfg.Frequency), Time: m.sampleTime(first)}, nil
}

// Close implements audio.Microphone.
func (m *Microphone) Close() error {
	m.closeOnce.Do(func() { close(m.done) })
	return nil
}

// Generate returns n interleaved sample frames of the signal starting at
// sample frame first: the tone at freq Hz, or the beep during the first
// BeepDuration of every second. Phases come from the absolute sample index,
// so chunks join without clicks however they are cut.
func Generate(first int64, n, rate, channels int, freq float64) []int16 {
	out := make([]int16, n*channels)
	beepLen := int64(BeepDuration) * int64(rate) / int64(time.Second)
	for i := range n {
		idx := first + int64(i)
		inSecond := idx % int64(rate)
		t := float64(inSecond) / float64(rate) // whole cycles per second: phase restarts each second
		var v float64
		if inSecond < beepLen {
			v = beepLevel * math.Sin(2*math.Pi*BeepFrequency*t)
		} else {
			v = toneLevel * math.Sin(2*math.Pi*freq*t)
		}
		s := int16(math.Round(v))
		for c := range channels {
			out[i*channels+c] = s
		}
	}
	return out
}

// IsBeep reports whether sample frame idx is inside a beep.
func IsBeep(idx int64, rate int) bool {
	return idx%int64(rate) < int64(BeepDuration)*int64(rate)/int64(time.Second)
}
