package v4l2

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"twincap/drivers/camera"
	"twincap/drivers/internal/fakeclock"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

var small = camera.Format{Width: 64, Height: 48, FPS: 25}

// tickingClock reads t0, t0+1ms, t0+2ms, ... so every frame gets its own
// stamp.
func tickingClock() func() time.Time {
	clk := fakeclock.New(t0)
	return func() time.Time {
		now := clk.Now()
		clk.Advance(time.Millisecond)
		return now
	}
}

func startSmall(t *testing.T, dev *fakeDevice, gone func() bool) *Camera {
	t.Helper()
	c, err := start("/dev/video9", dev, small, DefaultPreference, false, tickingClock(), gone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func yuyvDevice() *fakeDevice {
	return newFakeDevice(Offer{YUYV, Discrete(64, 48), rates(15, 25, 30)})
}

func frame() fakeItem { return fakeItem{data: makeYUYV(64, 48, 128)} }

func TestStartSetsUpTheDevice(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dev     func() *fakeDevice
		wantFPS int
		wantErr string
	}{
		{"rate set", yuyvDevice, 25, ""},
		{"driver refuses the rate", func() *fakeDevice {
			d := yuyvDevice()
			d.intervalErr = syscall.ENOTTY
			return d
		}, 25, ""},
		{"driver switches format", func() *fakeDevice {
			d := yuyvDevice()
			d.setFormat = func(PixelFormat) PixelFormat { return NV12 }
			return d
		}, 0, "asked for YUYV 64x48, the driver chose NV12"},
		{"set format fails", func() *fakeDevice {
			d := yuyvDevice()
			d.setErr = syscall.EBUSY
			return d
		}, 0, "set format YUYV 64x48: device or resource busy"},
		{"streaming fails", func() *fakeDevice {
			d := yuyvDevice()
			d.startErr = syscall.ENODEV
			return d
		}, 0, "start streaming"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev := tc.dev()
			c, err := start("/dev/video9", dev, small, DefaultPreference, false, time.Now, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "/dev/video9") {
					t.Fatalf("start = %v, want an error naming the device and saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.Format(); got != (camera.Format{Width: 64, Height: 48, FPS: tc.wantFPS}) {
				t.Fatalf("Format = %v", got)
			}
			if c.PixelFormat() != YUYV {
				t.Fatalf("PixelFormat = %v", c.PixelFormat())
			}
			if started, _, _ := dev.counts(); started != 1 {
				t.Fatalf("started %d times", started)
			}
		})
	}
}

func TestReadStampsFramesWithDequeueTime(t *testing.T) {
	dev := yuyvDevice()
	c := startSmall(t, dev, nil)
	dev.push(frame(), frame(), frame())
	for i := range 3 {
		f, err := c.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(time.Duration(i) * time.Millisecond); !f.Time.Equal(want) {
			t.Fatalf("frame %d at %v, want %v", i, f.Time, want)
		}
		checkPicture(t, f.Image, 64, 48)
	}
	if _, released, _ := dev.counts(); released != 3 {
		t.Fatalf("released %d buffers, want 3", released)
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name             string
		item             fakeItem
		gone             bool
		wantDisconnected bool
		wantText         string
	}{
		{"ENODEV on dequeue", fakeItem{dequeueErr: syscall.ENODEV}, false, true, "dequeue"},
		{"EIO on dequeue", fakeItem{dequeueErr: syscall.EIO}, false, true, "input/output error"},
		{"error on wait", fakeItem{waitErr: syscall.ENXIO}, false, true, "wait for a frame"},
		{"node vanished", fakeItem{dequeueErr: syscall.EINVAL}, true, true, "device node is gone"},
		{"other error", fakeItem{dequeueErr: syscall.EINVAL}, false, false, "invalid argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev := yuyvDevice()
			c := startSmall(t, dev, func() bool { return tc.gone })
			dev.push(frame(), tc.item)
			if _, err := c.Read(context.Background()); err != nil {
				t.Fatalf("the frame before the error: %v", err)
			}
			_, err := c.Read(context.Background())
			if err == nil || errors.Is(err, camera.ErrDisconnected) != tc.wantDisconnected {
				t.Fatalf("Read = %v, want ErrDisconnected: %v", err, tc.wantDisconnected)
			}
			if !strings.Contains(err.Error(), "/dev/video9") || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("error %q does not name the device and say %q", err, tc.wantText)
			}
			if _, err2 := c.Read(context.Background()); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("second Read = %v, want the same error", err2)
			}
		})
	}
}

func TestNothingToDequeueIsNoError(t *testing.T) {
	dev := yuyvDevice()
	c := startSmall(t, dev, nil)
	dev.push(fakeItem{dequeueErr: syscall.EAGAIN}, fakeItem{waitErr: syscall.EINTR}, frame())
	f, err := c.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkPicture(t, f.Image, 64, 48)
}

func TestBadFramesAreSkippedThenFail(t *testing.T) {
	dev := yuyvDevice()
	c := startSmall(t, dev, nil)
	short := fakeItem{data: make([]byte, 100)}
	dev.push(short, short, frame())
	if _, err := c.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Skipped != 2 {
		t.Fatalf("Stats = %+v, want 2 skipped", s)
	}
	for range maxBadFrames {
		dev.push(short)
	}
	_, err := c.Read(context.Background())
	if err == nil || errors.Is(err, camera.ErrDisconnected) || !strings.Contains(err.Error(), "could not be converted") {
		t.Fatalf("Read = %v, want a conversion error", err)
	}
}

func TestSlowReaderGetsTheNewestFrames(t *testing.T) {
	dev := yuyvDevice()
	c := startSmall(t, dev, nil)
	for range 10 {
		dev.push(frame())
	}
	dev.push(fakeItem{dequeueErr: syscall.ENODEV})
	<-c.failed // every frame has been converted and queued
	if s := c.Stats(); s.Dropped != 10-queued {
		t.Fatalf("Stats = %+v, want %d dropped", s, 10-queued)
	}
	for i := 10 - queued; i < 10; i++ {
		f, err := c.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(time.Duration(i) * time.Millisecond); !f.Time.Equal(want) {
			t.Fatalf("got frame stamped %v, want frame %d", f.Time.Sub(t0), i)
		}
	}
	if _, err := c.Read(context.Background()); !errors.Is(err, camera.ErrDisconnected) {
		t.Fatalf("Read = %v after the frames, want ErrDisconnected", err)
	}
}

func TestCloseAndCancel(t *testing.T) {
	t.Run("close releases the device and wakes a Read", func(t *testing.T) {
		dev := yuyvDevice()
		c := startSmall(t, dev, nil)
		errc := make(chan error)
		go func() {
			_, err := c.Read(context.Background())
			errc <- err
		}()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, camera.ErrClosed) {
			t.Fatalf("Read = %v, want ErrClosed", err)
		}
		if _, _, closed := dev.counts(); closed != 1 {
			t.Fatalf("device closed %d times, want 1", closed)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, _, closed := dev.counts(); closed != 1 {
			t.Fatalf("device closed %d times after a second Close, want 1", closed)
		}
		dev.push(frame())
		if _, err := c.Read(context.Background()); !errors.Is(err, camera.ErrClosed) {
			t.Fatalf("Read after Close = %v", err)
		}
	})
	t.Run("close after a failure", func(t *testing.T) {
		dev := yuyvDevice()
		c := startSmall(t, dev, nil)
		dev.push(fakeItem{dequeueErr: syscall.ENODEV})
		<-c.failed
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if _, _, closed := dev.counts(); closed != 1 {
			t.Fatalf("device closed %d times, want 1", closed)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		c := startSmall(t, yuyvDevice(), nil)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error)
		go func() {
			_, err := c.Read(ctx)
			errc <- err
		}()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Read = %v, want context.Canceled", err)
		}
	})
}

func TestDiscover(t *testing.T) {
	devs := map[string]*fakeDevice{
		"/dev/video0":  yuyvDevice(),
		"/dev/video10": newFakeDevice(Offer{MJPEG, Discrete(1280, 720), rates(30)}),
		"/dev/video2":  newFakeDevice(Offer{NV12, Discrete(640, 480), rates(25)}),
	}
	open := func(p string) (device, func() (string, string), error) {
		d, ok := devs[p]
		if !ok {
			return nil, nil, errors.New("Not a video capture device")
		}
		return d, func() (string, string) { return "cam " + p, "usb-1" }, nil
	}
	got := discover([]string{"/dev/video10", "/dev/video1", "/dev/video2", "/dev/video0"}, open)
	var paths []string
	for _, d := range got {
		paths = append(paths, d.Path)
	}
	if strings.Join(paths, " ") != "/dev/video0 /dev/video2 /dev/video10" {
		t.Fatalf("discovered %v, want video0, video2, video10 in number order", paths)
	}
	if s := got[2].String(); s != "/dev/video10 (cam /dev/video10, usb-1): MJPEG 1280x720@30" {
		t.Fatalf("Device.String = %q", s)
	}
	for p, d := range devs {
		if _, _, closed := d.counts(); closed != 1 {
			t.Errorf("%s closed %d times, want 1", p, closed)
		}
	}
}
