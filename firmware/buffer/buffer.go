package buffer

import (
	"errors"
	"fmt"
	"sync"

	"twincap/encoder/segment"
	"twincap/firmware/journal"
)

// ErrGone is returned by Read for a segment the buffer no longer holds
// (unbuffered mode: it fell out of the window). The server that wanted it
// gets a gap instead.
var ErrGone = errors.New("buffer: segment no longer held")

// ErrNotYet is returned by Read for a segment not appended yet.
var ErrNotYet = errors.New("buffer: segment not appended yet")

// signal is a broadcast: Changed returns a channel that is closed at the
// next Append.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// Journaled keeps every segment in a durable journal.
type Journaled struct {
	j   *journal.Journal
	sig signal
}

// NewJournaled wraps an open journal.
func NewJournaled(j *journal.Journal) *Journaled { return &Journaled{j: j} }

// Journal is the journal behind the buffer.
func (b *Journaled) Journal() *journal.Journal { return b.j }

// Append stores s durably, then wakes the readers.
func (b *Journaled) Append(s segment.Segment) error {
	if err := b.j.Append(s); err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	b.sig.fire()
	return nil
}

func (b *Journaled) Next() uint64               { return b.j.Next() }
func (b *Journaled) Changed() <-chan struct{}   { return b.sig.changed() }
func (b *Journaled) Acked(server string) uint64 { return b.j.Acked(server) }
func (b *Journaled) Ack(server string, next uint64) error {
	return b.j.SetAcked(server, next)
}

func (b *Journaled) Read(seq uint64) (segment.Segment, error) {
	if seq >= b.j.Next() {
		return segment.Segment{}, ErrNotYet
	}
	s, err := b.j.Read(seq)
	if err != nil {
		return segment.Segment{}, fmt.Errorf("buffer: %w", err)
	}
	return s, nil
}

// Window keeps the last Size segments in memory (unbuffered mode).
type Window struct {
	size int
	sig  signal

	mu    sync.Mutex
	segs  map[uint64]segment.Segment
	next  uint64
	acked map[string]uint64
}

// NewWindow keeps up to size segments.
func NewWindow(size int) *Window {
	if size < 1 {
		size = 1
	}
	return &Window{size: size, segs: make(map[uint64]segment.Segment), acked: make(map[string]uint64)}
}

func (w *Window) Append(s segment.Segment) error {
	w.mu.Lock()
	if s.Seq != w.next {
		w.mu.Unlock()
		return fmt.Errorf("buffer: append %d, want %d", s.Seq, w.next)
	}
	w.segs[s.Seq] = s
	w.next++
	if w.next > uint64(w.size) {
		delete(w.segs, w.next-1-uint64(w.size))
	}
	w.mu.Unlock()
	w.sig.fire()
	return nil
}

func (w *Window) Next() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next
}

// Oldest is the first segment still held.
func (w *Window) Oldest() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.next <= uint64(w.size) {
		return 0
	}
	return w.next - uint64(w.size)
}

func (w *Window) Read(seq uint64) (segment.Segment, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq >= w.next {
		return segment.Segment{}, ErrNotYet
	}
	s, ok := w.segs[seq]
	if !ok {
		return segment.Segment{}, fmt.Errorf("%w: segment %d (window holds the last %d)", ErrGone, seq, w.size)
	}
	return s, nil
}

func (w *Window) Changed() <-chan struct{} { return w.sig.changed() }

func (w *Window) Ack(server string, next uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if next > w.acked[server] {
		w.acked[server] = next
	}
	return nil
}

func (w *Window) Acked(server string) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acked[server]
}

// Oldest is the first segment still held: a journal holds them all.
func (b *Journaled) Oldest() uint64 { return 0 }
