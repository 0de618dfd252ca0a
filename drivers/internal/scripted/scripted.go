// Package scripted is the queue behind the camera and microphone fakes: a
// source whose reads return what a test queued, in order, and block while
// nothing is queued.
package scripted

import (
	"context"
	"io"
	"sync"
)

// Source returns queued items of type T. It is safe for concurrent use.
type Source[T any] struct {
	errClosed, errUnplugged error

	mu       sync.Mutex
	queue    []item[T]
	wake     chan struct{} // closed and replaced whenever something changes
	closed   bool
	unplug   bool
	ended    bool
	reads    int
	closeCnt int
}

type item[T any] struct {
	v   T
	err error
}

// New returns an empty source whose reads fail with errClosed after Close
// and with errUnplugged after Unplug.
func New[T any](errClosed, errUnplugged error) *Source[T] {
	return &Source[T]{errClosed: errClosed, errUnplugged: errUnplugged, wake: make(chan struct{})}
}

func (s *Source[T]) changed() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// Push queues items.
func (s *Source[T]) Push(items ...T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range items {
		s.queue = append(s.queue, item[T]{v: v})
	}
	s.changed()
}

// PushError queues an error; the Read that reaches it returns it once.
func (s *Source[T]) PushError(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, item[T]{err: err})
	s.changed()
}

// End makes Read return io.EOF once the queue is empty, as a finite source.
func (s *Source[T]) End() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	s.changed()
}

// Unplug drops the queue and makes every Read fail with the unplugged
// error, as when the cable is pulled.
func (s *Source[T]) Unplug() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unplug, s.queue = true, nil
	s.changed()
}

// Reads is how many items Read has returned.
func (s *Source[T]) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// Closed reports how many times Close was called.
func (s *Source[T]) Closed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeCnt
}

// Read returns the next queued item, blocking while there is none.
func (s *Source[T]) Read(ctx context.Context) (T, error) {
	var zero T
	for {
		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			return zero, s.errClosed
		case s.unplug:
			s.mu.Unlock()
			return zero, s.errUnplugged
		case len(s.queue) > 0:
			it := s.queue[0]
			s.queue = s.queue[1:]
			if it.err == nil {
				s.reads++
			}
			s.mu.Unlock()
			return it.v, it.err
		case s.ended:
			s.mu.Unlock()
			return zero, io.EOF
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return zero, ctx.Err()
		}
	}
}

// Close makes every later Read fail with the closed error.
func (s *Source[T]) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.closeCnt++
	s.changed()
	return nil
}
