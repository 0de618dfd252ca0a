//go:build cgo

package alsa

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"twincap/drivers/audio"
)

// These tests run the real miniaudio path on ALSA's "null" PCM, which
// alsa-lib (libasound2) defines everywhere: capture from it yields
// silence, as fast as it is read. A machine without libasound fails them.

func TestNullDevice(t *testing.T) {
	m, err := Open(Config{Device: "null", Format: audio.Format{SampleRate: 48000, Channels: 2}})
	if err != nil {
		t.Fatalf("Open(null): %v (is libasound2 installed?)", err)
	}
	defer m.Close()
	if m.Format() != (audio.Format{SampleRate: 48000, Channels: 2}) || m.Device() != "null" {
		t.Fatalf("Format %v, Device %q", m.Format(), m.Device())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last time.Time
	for i := range 5 {
		c, err := m.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Frames(2) != 960 || len(c.Samples) != 1920 {
			t.Fatalf("chunk %d: %d samples, want 960 frames of 2", i, len(c.Samples))
		}
		for _, s := range c.Samples {
			if s != 0 {
				t.Fatalf("chunk %d: sample %d from the null device", i, s)
			}
		}
		if i > 0 && !c.Time.After(last.Add(-time.Second)) {
			t.Fatalf("chunk %d at %v, far before the one before it at %v", i, c.Time, last)
		}
		if d := time.Since(c.Time); d < -time.Second || d > time.Minute {
			t.Fatalf("chunk %d stamped %v ago, not on the wall clock", i, d)
		}
		last = c.Time
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Read(ctx); !errors.Is(err, audio.ErrClosed) {
		t.Fatalf("Read after Close = %v", err)
	}
}

func TestOpenMissingDeviceNamesIt(t *testing.T) {
	m, err := Open(Config{Device: "hw:NoSuchCard,0"})
	if err == nil {
		m.Close()
		t.Fatal("Open succeeded")
	}
	for _, want := range []string{`alsa: open capture device "hw:NoSuchCard,0"`, "capture devices: ", `"null"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := Open(Config{Device: strings.Repeat("x", 300)}); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("a 300-byte name: %v", err)
	}
}

func TestDevices(t *testing.T) {
	devs, err := Devices()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if d.Name == "null" {
			if !strings.Contains(d.Description, "zero samples") {
				t.Errorf("null: description %q", d.Description)
			}
			return
		}
	}
	t.Fatalf("Devices = %v, want the null device among them", devs)
}
