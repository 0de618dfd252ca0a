package encoder

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{Width: 1280, Height: 720, FPS: 30, Bitrate: 4_000_000, SegmentDuration: time.Second, Preset: "veryfast", AudioBitrate: 64000}
	if c != want {
		t.Fatalf("DefaultConfig = %+v, want %+v", c, want)
	}
	if got := (Config{}).withDefaults(); got != want {
		t.Fatalf("zero config with defaults = %+v, want %+v", got, want)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		field string
		edit  func(*Config)
	}{
		{"Width", func(c *Config) { c.Width = 641 }},
		{"Width", func(c *Config) { c.Width = -2 }},
		{"Width", func(c *Config) { c.Width = 8192 }},
		{"Height", func(c *Config) { c.Height = 481 }},
		{"Height", func(c *Config) { c.Height = 0 }},
		{"FPS", func(c *Config) { c.FPS = 0 }},
		{"FPS", func(c *Config) { c.FPS = 500 }},
		{"Bitrate", func(c *Config) { c.Bitrate = 1000 }},
		{"SegmentDuration", func(c *Config) { c.SegmentDuration = time.Millisecond }},
		{"SegmentDuration", func(c *Config) { c.SegmentDuration = time.Minute }},
		{"SegmentDuration", func(c *Config) { c.FPS, c.SegmentDuration = 5, 150*time.Millisecond }},
		{"Preset", func(c *Config) { c.Preset = "quick" }},
		{"Preset", func(c *Config) { c.Preset = "VeryFast" }},
		{"Preset", func(c *Config) { c.Preset = "" }},
		{"AudioBitrate", func(c *Config) { c.AudioBitrate = 1_000_000 }},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: Validate = %v, want ErrInvalidConfig", c, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.field+" ") {
			t.Errorf("%+v: %q does not name %s", c, err, tc.field)
		}
	}
	for _, p := range presets {
		c := DefaultConfig()
		c.Preset = p
		if err := c.Validate(); err != nil {
			t.Errorf("preset %s: %v", p, err)
		}
	}
}

func TestTicksRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		rate int64
		want int64
	}{
		{0, 90000, 0},
		{time.Second / 30, 90000, 3000},
		{time.Second / 15, 90000, 6000},
		{33333333 * time.Nanosecond, 90000, 3000},
		{20 * time.Millisecond, 48000, 960},
		{-20 * time.Millisecond, 48000, -960},
		{30 * time.Hour, 90000, 30 * 3600 * 90000},
		{time.Hour + time.Second/3, 48000, 3600*48000 + 16000},
	} {
		if got := ticks(tc.d, tc.rate); got != tc.want {
			t.Errorf("ticks(%v, %d) = %d, want %d", tc.d, tc.rate, got, tc.want)
		}
	}
	if got := duration(30*3600*90000+45000, 90000); got != 30*time.Hour+time.Second/2 {
		t.Errorf("duration = %v", got)
	}
}
