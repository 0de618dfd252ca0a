package livetest

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"twincap/drivers/audio"
	"twincap/drivers/audio/tone"
	"twincap/drivers/camera"
	"twincap/drivers/camera/testpattern"
	"twincap/encoder"
	"twincap/encoder/segment"
)

// RecordConfig is what Record and Paced produce. Zero fields take the
// defaults: 160x120 at 15 fps, 1 s segments, 2 s long, with audio.
type RecordConfig struct {
	Width, Height, FPS int
	SegmentDuration    time.Duration
	Duration           time.Duration // Record only: how much to record
	Preset             string        // x264 preset; "" means ultrafast (Constrained Baseline)
	NoAudio            bool
	// ChunkDuration cuts CMAF chunks within each segment (encoder.Config);
	// PacedChunks hands them out.
	ChunkDuration time.Duration
}

func (c RecordConfig) withDefaults() RecordConfig {
	if c.Width == 0 {
		c.Width, c.Height = 160, 120
	}
	if c.FPS == 0 {
		c.FPS = 15
	}
	if c.SegmentDuration == 0 {
		c.SegmentDuration = time.Second
	}
	if c.Duration == 0 {
		c.Duration = 2 * time.Second
	}
	if c.Preset == "" {
		c.Preset = "ultrafast"
	}
	return c
}

// Recording is the segments of one recording: Segments[0] is the init
// segment, then one media segment per SegmentDuration.
type Recording struct {
	Config   RecordConfig
	Segments []segment.Segment
}

// Media is the media segments (seq 1 on).
func (r Recording) Media() []segment.Segment { return r.Segments[1:] }

// Record encodes Duration of the test pattern and tone as fast as the
// encoder goes (no pacing: media time comes from the sources' clocks).
func Record(tb testing.TB, cfg RecordConfig) Recording {
	tb.Helper()
	cfg = cfg.withDefaults()
	frames := int(cfg.Duration * time.Duration(cfg.FPS) / time.Second)
	cam, mic, err := sources(cfg, false)
	if err != nil {
		tb.Fatal(err)
	}
	defer closeSources(cam, mic)
	p, err := encoder.New(encoder.Config{
		Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, Bitrate: 300_000,
		SegmentDuration: cfg.SegmentDuration, Preset: cfg.Preset,
	}, &finiteCamera{Camera: cam, n: frames}, mic)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := make(chan segment.Segment)
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx, out) }()
	r := Recording{Config: cfg}
	for s := range out {
		r.Segments = append(r.Segments, s)
	}
	if err := <-errc; err != nil {
		tb.Fatalf("livetest: encoder: %v", err)
	}
	if len(r.Segments) < 2 {
		tb.Fatalf("livetest: encoder made %d segments", len(r.Segments))
	}
	return r
}

// Paced runs the encoder on test sources paced in real time, as on the
// box, until ctx ends, and calls emit with each segment as it comes out.
// start is when the first frame was captured: media time 0, the origin of
// every segment's Start. It returns ctx's end as nil.
func Paced(ctx context.Context, cfg RecordConfig, emit func(s segment.Segment, start time.Time)) error {
	return PacedChunks(ctx, cfg, nil, emit)
}

// PacedChunks is Paced that also calls chunk, if not nil, with every CMAF
// chunk as the encoder cuts it (before its segment goes to emit).
func PacedChunks(ctx context.Context, cfg RecordConfig, chunk func(c encoder.Chunk, start time.Time), emit func(s segment.Segment, start time.Time)) error {
	cfg = cfg.withDefaults()
	cam, mic, err := sources(cfg, true)
	if err != nil {
		return err
	}
	defer closeSources(cam, mic)
	rc := &recordingCamera{Camera: cam}
	p, err := encoder.New(encoder.Config{
		Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, Bitrate: 300_000,
		SegmentDuration: cfg.SegmentDuration, Preset: cfg.Preset, ChunkDuration: cfg.ChunkDuration,
	}, rc, mic)
	if err != nil {
		return err
	}
	if chunk != nil {
		p.OnChunk(func(c encoder.Chunk) { chunk(c, rc.first()) })
	}
	out := make(chan segment.Segment)
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx, out) }()
	for s := range out {
		emit(s, rc.first())
	}
	return <-errc
}

func sources(cfg RecordConfig, paced bool) (camera.Camera, audio.Microphone, error) {
	cam, err := testpattern.New(testpattern.Config{Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, Paced: paced})
	if err != nil {
		return nil, nil, fmt.Errorf("livetest: %w", err)
	}
	if cfg.NoAudio {
		return cam, nil, nil
	}
	mic, err := tone.New(tone.Config{Paced: paced})
	if err != nil {
		_ = cam.Close()
		return nil, nil, fmt.Errorf("livetest: %w", err)
	}
	return cam, mic, nil
}

// closeSources closes what sources opened (the pipeline does not).
func closeSources(cam camera.Camera, mic audio.Microphone) {
	_ = cam.Close()
	if mic != nil {
		_ = mic.Close()
	}
}

// finiteCamera ends a camera after n frames.
type finiteCamera struct {
	camera.Camera
	n int
}

func (c *finiteCamera) Read(ctx context.Context) (camera.Frame, error) {
	if c.n == 0 {
		return camera.Frame{}, io.EOF
	}
	c.n--
	return c.Camera.Read(ctx)
}

// recordingCamera notes when the first frame was captured.
type recordingCamera struct {
	camera.Camera
	mu    sync.Mutex
	start time.Time
}

func (c *recordingCamera) Read(ctx context.Context) (camera.Frame, error) {
	f, err := c.Camera.Read(ctx)
	if err == nil {
		c.mu.Lock()
		if c.start.IsZero() {
			c.start = f.Time
		}
		c.mu.Unlock()
	}
	return f, err
}

func (c *recordingCamera) first() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.start
}
