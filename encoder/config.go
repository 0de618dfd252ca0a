package encoder

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of DefaultConfig, also taken by zero fields in New.
const (
	DefaultWidth           = 1280
	DefaultHeight          = 720
	DefaultFPS             = 30
	DefaultBitrate         = 4_000_000
	DefaultSegmentDuration = time.Second
	DefaultPreset          = "veryfast"
	DefaultAudioBitrate    = 64000
)

// ErrInvalidConfig is wrapped by the error of Validate.
var ErrInvalidConfig = errors.New("encoder: invalid config")

// Config is what the encoder produces.
type Config struct {
	Width, Height, FPS int
	// Bitrate is the video bitrate in bit/s.
	Bitrate int
	// SegmentDuration is the video each media segment covers.
	SegmentDuration time.Duration
	// ChunkDuration, when not 0, cuts each segment into CMAF chunks (a
	// moof+mdat) of about this much video, the first starting with the
	// segment's IDR, handed out one by one as they are cut (Pipeline.OnChunk)
	// so the livestream need not wait for a whole segment. 0: one moof+mdat
	// per segment.
	ChunkDuration time.Duration
	// Preset is an x264 preset name (ultrafast ... placebo).
	Preset string
	// AudioBitrate is the Opus bitrate in bit/s.
	AudioBitrate int
}

// DefaultConfig is 720p30 at 4 Mbit/s, veryfast, 1 s segments, 64 kbit/s
// Opus.
func DefaultConfig() Config {
	return Config{
		Width: DefaultWidth, Height: DefaultHeight, FPS: DefaultFPS,
		Bitrate:         DefaultBitrate,
		SegmentDuration: DefaultSegmentDuration,
		Preset:          DefaultPreset,
		AudioBitrate:    DefaultAudioBitrate,
	}
}

// withDefaults replaces zero fields with the defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Width == 0 {
		c.Width = d.Width
	}
	if c.Height == 0 {
		c.Height = d.Height
	}
	if c.FPS == 0 {
		c.FPS = d.FPS
	}
	if c.Bitrate == 0 {
		c.Bitrate = d.Bitrate
	}
	if c.SegmentDuration == 0 {
		c.SegmentDuration = d.SegmentDuration
	}
	if c.Preset == "" {
		c.Preset = d.Preset
	}
	if c.AudioBitrate == 0 {
		c.AudioBitrate = d.AudioBitrate
	}
	return c
}

// Validate reports every field that is out of range, each by name.
func (c Config) Validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if c.Width < 16 || c.Width > 4096 || c.Width%2 != 0 {
		bad("Width %d: want an even number from 16 to 4096", c.Width)
	}
	if c.Height < 16 || c.Height > 2304 || c.Height%2 != 0 {
		bad("Height %d: want an even number from 16 to 2304", c.Height)
	}
	if c.FPS < 1 || c.FPS > 120 {
		bad("FPS %d: want 1 to 120", c.FPS)
	}
	if c.Bitrate < 50_000 || c.Bitrate > 100_000_000 {
		bad("Bitrate %d: want 50000 to 100000000 bit/s", c.Bitrate)
	}
	if c.SegmentDuration < 100*time.Millisecond || c.SegmentDuration > 10*time.Second {
		bad("SegmentDuration %v: want 100ms to 10s", c.SegmentDuration)
	} else if c.FPS >= 1 && c.SegmentDuration < time.Second/time.Duration(c.FPS) {
		bad("SegmentDuration %v: shorter than one frame at %d fps", c.SegmentDuration, c.FPS)
	}
	if c.ChunkDuration < 0 || c.ChunkDuration > c.SegmentDuration {
		bad("ChunkDuration %v: want 0 (none) up to SegmentDuration %v", c.ChunkDuration, c.SegmentDuration)
	} else if c.ChunkDuration > 0 && c.FPS >= 1 && c.ChunkDuration < time.Second/time.Duration(c.FPS) {
		bad("ChunkDuration %v: shorter than one frame at %d fps", c.ChunkDuration, c.FPS)
	}
	if _, ok := presetIndex(c.Preset); !ok {
		bad("Preset %q: want one of %s", c.Preset, strings.Join(presets, ", "))
	}
	if c.AudioBitrate < 6000 || c.AudioBitrate > 510_000 {
		bad("AudioBitrate %d: want 6000 to 510000 bit/s (Opus)", c.AudioBitrate)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(errs, "; "))
	}
	return nil
}
