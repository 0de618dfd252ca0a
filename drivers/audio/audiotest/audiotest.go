package audiotest

import (
	"time"

	"twincap/drivers/audio"
	"twincap/drivers/internal/scripted"
)

// Microphone is a fake audio.Microphone. Read returns what was queued with
// Push and PushError, in order, and blocks while the queue is empty (until
// more is queued, ctx is done, it is closed or unplugged, or End was
// called). Unplug makes every Read fail with audio.ErrDisconnected. It is
// safe for concurrent use.
type Microphone struct {
	*scripted.Source[audio.Chunk]
	format audio.Format
}

var _ audio.Microphone = (*Microphone)(nil)

// New returns an empty fake microphone of format f.
func New(f audio.Format) *Microphone {
	return &Microphone{Source: scripted.New[audio.Chunk](audio.ErrClosed, audio.ErrDisconnected), format: f}
}

// Format implements audio.Microphone.
func (m *Microphone) Format() audio.Format { return m.format }

// Chunks makes n chunks of f, each dur long, back to back from start,
// holding a ramp so that lost or repeated samples are visible.
func Chunks(f audio.Format, start time.Time, dur time.Duration, n int) []audio.Chunk {
	frames := int(int64(dur) * int64(f.SampleRate) / int64(time.Second))
	out := make([]audio.Chunk, n)
	for i := range out {
		s := make([]int16, frames*f.Channels)
		for j := range s {
			s[j] = int16((i*frames + j/f.Channels) % 20000)
		}
		out[i] = audio.Chunk{Samples: s, Time: start.Add(time.Duration(i) * dur)}
	}
	return out
}
