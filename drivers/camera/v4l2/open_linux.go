package v4l2

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blackjack/webcam"

	"twincap/drivers/camera"
)

// Options are the configured choices beyond the format.
type Options struct {
	// Input is the video input to capture from, by the name the device
	// lists ("HDMI 1") or its number; "" keeps the device's current one.
	// On an input that takes DV timings (HDMI) the mode of the configured
	// size and rate is set too.
	Input string
	// Prefer is the pixel formats to take, in order (names as
	// ParsePixelFormat reads them); empty means DefaultPreference.
	Prefer []string
}

// Open opens the capture device at path (such as /dev/video0), switches it
// to opt.Input (see selectSource), and starts it at want's size, in the
// first pixel format of opt.Prefer that offers that size at a rate near
// want.FPS. The rate nearest the configured one wins over the order of
// prefer; a rate less than half or more than twice it is not taken.
// Format() reports the rate negotiated, which may differ from want.FPS.
// When nothing fits, the error is a *FormatError that lists what the
// device offers.
//
// Frames are stamped with time.Now when dequeued: the wall clock, which
// the microphone uses too.
func Open(path string, want camera.Format, opt Options) (*Camera, error) {
	if err := want.Validate(); err != nil {
		return nil, fmt.Errorf("v4l2: %w", err)
	}
	prefs, err := parsePreference(opt.Prefer)
	if err != nil {
		return nil, err
	}
	src, err := openSource(path)
	if err != nil {
		return nil, fmt.Errorf("v4l2: open camera %s: %w", path, err)
	}
	err = selectSource(path, src, opt.Input, want)
	src.Close()
	if err != nil {
		return nil, err
	}
	w, err := webcam.Open(path)
	if err != nil {
		return nil, fmt.Errorf("v4l2: open camera %s: %w", path, err)
	}
	gone := func() bool {
		_, err := os.Stat(path)
		return errors.Is(err, os.ErrNotExist)
	}
	c, err := start(path, webcamDevice{w}, want, prefs, len(opt.Prefer) > 0, time.Now, gone)
	if err != nil {
		w.Close()
		return nil, err
	}
	return c, nil
}

// Discover lists the V4L2 capture devices (/dev/video*, in number order)
// and what each offers. Nodes that are not capture devices (UVC metadata
// nodes, outputs) are left out, and so are those that cannot be opened.
func Discover() ([]Device, error) {
	paths, err := filepath.Glob("/dev/video*")
	if err != nil {
		return nil, fmt.Errorf("v4l2: discover: %w", err)
	}
	return discover(paths, func(p string) (device, func() (string, string), error) {
		w, err := webcam.Open(p)
		if err != nil {
			return nil, nil, err
		}
		info := func() (string, string) {
			name, _ := w.GetName()
			bus, _ := w.GetBusInfo()
			return name, bus
		}
		return webcamDevice{w}, info, nil
	}), nil
}

// discover enumerates each path that open can open, closing it again.
func discover(paths []string, open func(string) (device, func() (name, bus string), error)) []Device {
	slices.SortFunc(paths, func(a, b string) int {
		na, ea := strconv.Atoi(strings.TrimLeft(filepath.Base(a), "video"))
		nb, eb := strconv.Atoi(strings.TrimLeft(filepath.Base(b), "video"))
		if ea != nil || eb != nil || na == nb {
			return strings.Compare(a, b)
		}
		return na - nb
	})
	var out []Device
	for _, p := range paths {
		dev, info, err := open(p)
		if err != nil {
			continue
		}
		name, bus := info()
		out = append(out, Device{Path: p, Name: name, Bus: bus, Offers: enumerate(dev, camera.Format{})})
		dev.Close()
	}
	return out
}

// webcamDevice is the real device.
type webcamDevice struct{ w *webcam.Webcam }

func (d webcamDevice) PixelFormats() []PixelFormat {
	var out []PixelFormat
	for p := range d.w.GetSupportedFormats() {
		out = append(out, PixelFormat(p))
	}
	// The webcam package returns a map; keep a stable order for messages.
	slices.SortFunc(out, func(a, b PixelFormat) int { return strings.Compare(a.String(), b.String()) })
	return out
}

func (d webcamDevice) FrameSizes(p PixelFormat) []Size {
	var out []Size
	for _, s := range d.w.GetSupportedFrameSizes(webcam.PixelFormat(p)) {
		out = append(out, sizeOf(s))
	}
	return out
}

func (d webcamDevice) FrameRates(p PixelFormat, width, height int) []Rate {
	var out []Rate
	for _, r := range d.w.GetSupportedFramerates(webcam.PixelFormat(p), uint32(width), uint32(height)) {
		out = append(out, rateOf(r))
	}
	return out
}

func (d webcamDevice) SetFormat(p PixelFormat, width, height int) (PixelFormat, error) {
	got, _, _, err := d.w.SetImageFormat(webcam.PixelFormat(p), uint32(width), uint32(height))
	return PixelFormat(got), err
}

func (d webcamDevice) SetInterval(i Interval) error { return d.w.SetFramerate(float32(i.FPS())) }

func (d webcamDevice) FPS() (float64, error) {
	f, err := d.w.GetFramerate()
	return float64(f), err
}

func (d webcamDevice) Start(n int) error {
	if err := d.w.SetBufferCount(uint32(n)); err != nil {
		return err
	}
	return d.w.StartStreaming()
}

func (d webcamDevice) Wait() error {
	err := d.w.WaitForFrame(1)
	var t *webcam.Timeout
	if errors.As(err, &t) {
		return errWaitTimeout
	}
	return err
}

func (d webcamDevice) Dequeue() ([]byte, uint32, error) { return d.w.GetFrame() }
func (d webcamDevice) Release(index uint32) error       { return d.w.ReleaseFrame(index) }
func (d webcamDevice) Close() error                     { return d.w.Close() }

// sizeOf reads the webcam package's frame size. It leaves a continuous
// range (which it does not decode) all zero: that stands for any size,
// checked against the first frames.
func sizeOf(s webcam.FrameSize) Size {
	if s == (webcam.FrameSize{}) {
		return Size{MinWidth: 2, MaxWidth: 1 << 16, StepWidth: 2, MinHeight: 2, MaxHeight: 1 << 16, StepHeight: 2}
	}
	return Size{
		MinWidth: int(s.MinWidth), MaxWidth: int(s.MaxWidth), StepWidth: int(s.StepWidth),
		MinHeight: int(s.MinHeight), MaxHeight: int(s.MaxHeight), StepHeight: int(s.StepHeight),
	}
}

// rateOf reads the webcam package's frame rate, which holds intervals:
// Min* is the shortest.
func rateOf(r webcam.FrameRate) Rate {
	return Rate{
		Min: Interval{Num: r.MinNumerator, Den: r.MinDenominator},
		Max: Interval{Num: r.MaxNumerator, Den: r.MaxDenominator},
	}
}
