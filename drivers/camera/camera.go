package camera

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"
)

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("camera: closed")

// ErrDisconnected is returned by Read when the device went away (unplugged,
// driver reset). The camera must be closed and opened again.
var ErrDisconnected = errors.New("camera: disconnected")

// Format is what a camera delivers.
type Format struct {
	Width, Height int
	FPS           int
}

func (f Format) String() string { return fmt.Sprintf("%dx%d@%d", f.Width, f.Height, f.FPS) }

// Validate rejects formats an H.264 4:2:0 encoder cannot take.
func (f Format) Validate() error {
	switch {
	case f.Width <= 0 || f.Height <= 0:
		return fmt.Errorf("camera: format %v: width and height must be positive", f)
	case f.Width%2 != 0 || f.Height%2 != 0:
		return fmt.Errorf("camera: format %v: width and height must be even (4:2:0)", f)
	case f.FPS <= 0:
		return fmt.Errorf("camera: format %v: fps must be positive", f)
	}
	return nil
}

// Frame is one captured picture.
type Frame struct {
	// Image is 4:2:0 and Format().Width x Format().Height. The receiver owns
	// it: a camera never writes to a frame it has returned.
	Image *image.YCbCr
	// Time is when the picture was captured, on the clock the microphone
	// also uses (the wall clock in production).
	Time time.Time
}

// Camera is a video source. Read and Close may be called from different
// goroutines; Read is called from one goroutine at a time.
type Camera interface {
	// Format is fixed for the life of the camera.
	Format() Format
	// Read blocks until the next frame, ctx is done (it returns ctx.Err()),
	// or the camera is closed (ErrClosed). A finite source returns io.EOF
	// after its last frame.
	Read(ctx context.Context) (Frame, error)
	// Close releases the device and makes a pending Read return ErrClosed.
	// Closing twice is harmless.
	Close() error
}
