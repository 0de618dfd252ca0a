package leds_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"twincap/drivers/leds"
)

// fakeLED makes root/name with the files the kernel's LED class has.
func fakeLED(t *testing.T, root, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, v := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestClassUnderEngine(t *testing.T) {
	root := t.TempDir()
	dir := fakeLED(t, root, "twincap:green:status", map[string]string{
		"brightness": "0\n", "max_brightness": "255\n", "trigger": "none [heartbeat] timer\n",
	})
	out, err := leds.NewClass(root, "twincap:green:status")
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "trigger")); got != "none\n" {
		t.Errorf("trigger %q, want none: the kernel must let go of the LED", got)
	}
	e, err := leds.New(leds.Config{}, out)
	if err != nil {
		t.Fatal(err)
	}
	e.Set("twincap:green:status", leds.SlowBlink)
	tests := []struct {
		at   int // ms after the first step
		want string
	}{
		{0, "255\n"},
		{975, "255\n"},
		{1000, "0\n"},
		{1975, "0\n"},
		{2000, "255\n"},
	}
	for _, tt := range tests {
		if err := e.Step(t0.Add(time.Duration(tt.at) * ms)); err != nil {
			t.Fatal(err)
		}
		if got := read(t, filepath.Join(dir, "brightness")); got != tt.want {
			t.Errorf("at %d ms: brightness %q, want %q", tt.at, got, tt.want)
		}
	}
}

func TestClassMaxBrightnessOne(t *testing.T) {
	root := t.TempDir()
	dir := fakeLED(t, root, "led0", map[string]string{"brightness": "0\n", "max_brightness": "1"})
	out, err := leds.NewClass(root, "led0")
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Set(true); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "brightness")); got != "1\n" {
		t.Errorf("brightness %q", got)
	}
	if out.Name() != "led0" {
		t.Errorf("Name = %q", out.Name())
	}
}

func TestNewClassErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string // nil: no directory at all
		noLED   bool              // errors.Is(err, ErrNoLED)
		mention string
	}{
		{"missing", nil, true, "max_brightness"},
		{"no brightness", map[string]string{"max_brightness": "255\n"}, true, "brightness"},
		{"no max_brightness", map[string]string{"brightness": "0\n"}, true, "max_brightness"},
		{"bad max_brightness", map[string]string{"brightness": "0\n", "max_brightness": "bright\n"}, false, `"bright"`},
		{"zero max_brightness", map[string]string{"brightness": "0\n", "max_brightness": "0\n"}, false, "not a positive number"},
	}
	for _, tt := range tests {
		root := t.TempDir()
		if tt.files != nil {
			fakeLED(t, root, "status", tt.files)
		}
		_, err := leds.NewClass(root, "status")
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "leds: class status: ") || !strings.Contains(msg, filepath.Join(root, "status")) || !strings.Contains(msg, tt.mention) {
			t.Errorf("%s: %q should name the LED, its path and %s", tt.name, msg, tt.mention)
		}
		if errors.Is(err, leds.ErrNoLED) != tt.noLED {
			t.Errorf("%s: errors.Is(ErrNoLED) = %v", tt.name, !tt.noLED)
		}
	}
}

func TestClassWriteError(t *testing.T) {
	root := t.TempDir()
	dir := fakeLED(t, root, "status", map[string]string{"brightness": "0\n", "max_brightness": "255\n"})
	out, err := leds.NewClass(root, "status")
	if err != nil {
		t.Fatal(err)
	}
	// The LED vanished (driver unbound) after it was opened.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	err = out.Set(true)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "leds: class status") {
		t.Errorf("Set on a vanished LED: %v", err)
	}
}
