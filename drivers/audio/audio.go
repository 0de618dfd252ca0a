package audio

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("audio: closed")

// ErrDisconnected is returned by Read when the device went away.
var ErrDisconnected = errors.New("audio: disconnected")

// Format is what a microphone delivers.
type Format struct {
	SampleRate int // samples per second per channel
	Channels   int
}

func (f Format) String() string { return fmt.Sprintf("%d Hz x%d", f.SampleRate, f.Channels) }

// Validate rejects impossible formats.
func (f Format) Validate() error {
	switch {
	case f.SampleRate <= 0:
		return fmt.Errorf("audio: format %v: sample rate must be positive", f)
	case f.Channels <= 0:
		return fmt.Errorf("audio: format %v: channels must be positive", f)
	}
	return nil
}

// Chunk is a run of captured samples.
type Chunk struct {
	// Samples are interleaved (L R L R ... for stereo); len is a multiple of
	// Format().Channels. The receiver owns the slice.
	Samples []int16
	// Time is when the first sample was captured.
	Time time.Time
}

// Frames is the number of sample frames (samples per channel) in c.
func (c Chunk) Frames(channels int) int { return len(c.Samples) / channels }

// Microphone is an audio source. Read is called from one goroutine at a
// time; Close may be called from any.
type Microphone interface {
	// Format is fixed for the life of the microphone.
	Format() Format
	// Read blocks until the next chunk, ctx is done (ctx.Err()), or the
	// microphone is closed (ErrClosed). A finite source returns io.EOF
	// after its last chunk.
	Read(ctx context.Context) (Chunk, error)
	// Close releases the device; closing twice is harmless.
	Close() error
}
