package audiotest

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"twincap/drivers/audio"
)

var format = audio.Format{SampleRate: 48000, Channels: 2}

func TestScript(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	boom := errors.New("boom")
	for _, tc := range []struct {
		name   string
		script func(m *Microphone)
		want   []error
	}{
		{"chunks then end", func(m *Microphone) { m.Push(Chunks(format, t0, 20*time.Millisecond, 2)...); m.End() }, []error{nil, nil, io.EOF}},
		{"error once", func(m *Microphone) {
			m.PushError(boom)
			m.Push(Chunks(format, t0, 20*time.Millisecond, 1)...)
			m.End()
		}, []error{boom, nil, io.EOF}},
		{"unplug", func(m *Microphone) { m.Push(Chunks(format, t0, 20*time.Millisecond, 2)...); m.Unplug() }, []error{audio.ErrDisconnected}},
		{"close", func(m *Microphone) { m.Close() }, []error{audio.ErrClosed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := New(format)
			tc.script(m)
			for i, want := range tc.want {
				c, err := m.Read(context.Background())
				if !errors.Is(err, want) || (want == nil) != (err == nil) {
					t.Fatalf("Read %d = %v, want %v", i, err, want)
				}
				if err == nil && c.Frames(format.Channels) != 960 {
					t.Fatalf("Read %d: %d frames, want 960", i, c.Frames(format.Channels))
				}
			}
		})
	}
}

func TestReadBlocksUntilPushOrCancel(t *testing.T) {
	m := New(format)
	got := make(chan error)
	go func() {
		_, err := m.Read(context.Background())
		got <- err
	}()
	m.Push(Chunks(format, time.Now(), 10*time.Millisecond, 1)...)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, err := m.Read(ctx)
		got <- err
	}()
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("Read = %v, want context.Canceled", err)
	}
}
