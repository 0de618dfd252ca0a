package audiotest

import (
	"context"
	"io"
	"sync"
	"time"

	"twincap/drivers/audio"
)

// Microphone is a fake audio.Microphone. Read returns what was queued with
// Push and PushError, in order, and blocks while the queue is empty (until
// more is queued, ctx is done, it is closed or unplugged, or End was
// called). It is safe for concurrent use.
type Microphone struct {
	format audio.Format

	mu       sync.Mutex
	queue    []item
	wake     chan struct{}
	closed   bool
	unplug   bool
	ended    bool
	reads    int
	closeCnt int
}

type item struct {
	chunk audio.Chunk
	err   error
}

var _ audio.Microphone = (*Microphone)(nil)

// New returns an empty fake microphone of format f.
func New(f audio.Format) *Microphone {
	return &Microphone{format: f, wake: make(chan struct{})}
}

// Format implements audio.Microphone.
func (m *Microphone) Format() audio.Format { return m.format }

func (m *Microphone) changed() {
	close(m.wake)
	m.wake = make(chan struct{})
}

// Push queues chunks.
func (m *Microphone) Push(chunks ...audio.Chunk) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range chunks {
		m.queue = append(m.queue, item{chunk: c})
	}
	m.changed()
}

// PushError queues an error; the Read that reaches it returns it once.
func (m *Microphone) PushError(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.queue = append(m.queue, item{err: err})
	m.changed()
}

// End makes Read return io.EOF once the queue is empty.
func (m *Microphone) End() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ended = true
	m.changed()
}

// Unplug drops the queue and makes every Read fail with
// audio.ErrDisconnected.
func (m *Microphone) Unplug() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unplug, m.queue = true, nil
	m.changed()
}

// Reads is how many chunks Read has returned.
func (m *Microphone) Reads() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads
}

// Closed reports how many times Close was called.
func (m *Microphone) Closed() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closeCnt
}

// Read implements audio.Microphone.
func (m *Microphone) Read(ctx context.Context) (audio.Chunk, error) {
	for {
		m.mu.Lock()
		switch {
		case m.closed:
			m.mu.Unlock()
			return audio.Chunk{}, audio.ErrClosed
		case m.unplug:
			m.mu.Unlock()
			return audio.Chunk{}, audio.ErrDisconnected
		case len(m.queue) > 0:
			it := m.queue[0]
			m.queue = m.queue[1:]
			if it.err == nil {
				m.reads++
			}
			m.mu.Unlock()
			return it.chunk, it.err
		case m.ended:
			m.mu.Unlock()
			return audio.Chunk{}, io.EOF
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

// Close implements audio.Microphone.
func (m *Microphone) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.closeCnt++
	m.changed()
	return nil
}

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
