package cameratest

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"twincap/drivers/camera"
)

var format = camera.Format{Width: 64, Height: 48, FPS: 10}

func TestScript(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	boom := errors.New("boom")
	for _, tc := range []struct {
		name   string
		script func(c *Camera)
		want   []error // one per Read; nil is a frame
	}{
		{"frames then end", func(c *Camera) { c.Push(Frames(format, t0, 2)...); c.End() }, []error{nil, nil, io.EOF, io.EOF}},
		{"error once", func(c *Camera) {
			c.Push(Frames(format, t0, 1)...)
			c.PushError(boom)
			c.Push(Frames(format, t0, 1)...)
			c.End()
		}, []error{nil, boom, nil, io.EOF}},
		{"unplug", func(c *Camera) { c.Push(Frames(format, t0, 3)...); c.Unplug() }, []error{camera.ErrDisconnected, camera.ErrDisconnected}},
		{"close", func(c *Camera) { c.Push(Frames(format, t0, 3)...); c.Close() }, []error{camera.ErrClosed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(format)
			tc.script(c)
			for i, want := range tc.want {
				f, err := c.Read(context.Background())
				if !errors.Is(err, want) || (want == nil) != (err == nil) {
					t.Fatalf("Read %d = %v, want %v", i, err, want)
				}
				if err == nil && (f.Image == nil || f.Image.Rect.Dx() != format.Width) {
					t.Fatalf("Read %d: bad frame", i)
				}
			}
		})
	}
}

func TestReadBlocksUntilPushOrCancel(t *testing.T) {
	c := New(format)
	got := make(chan error)
	go func() {
		_, err := c.Read(context.Background())
		got <- err
	}()
	c.Push(Frame(format, time.Now(), 100))
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, err := c.Read(ctx)
		got <- err
	}()
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("Read = %v, want context.Canceled", err)
	}
	if c.Reads() != 1 {
		t.Fatalf("Reads = %d, want 1", c.Reads())
	}
}

func TestFramesAreStampedOnePeriodApart(t *testing.T) {
	t0 := time.Unix(1000, 0)
	fs := Frames(format, t0, 5)
	for i, f := range fs {
		if want := t0.Add(time.Duration(i) * 100 * time.Millisecond); !f.Time.Equal(want) {
			t.Fatalf("frame %d at %v, want %v", i, f.Time, want)
		}
	}
}
