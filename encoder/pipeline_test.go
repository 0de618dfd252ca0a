package encoder

import (
	"context"
	"errors"
	"testing"
	"time"

	"twincap/drivers/audio"
	"twincap/drivers/audio/audiotest"
	"twincap/drivers/audio/tone"
	"twincap/drivers/camera"
	"twincap/drivers/camera/cameratest"
	"twincap/drivers/camera/testpattern"
	"twincap/encoder/fmp4"
	"twincap/encoder/segment"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

var (
	smallFormat = camera.Format{Width: 160, Height: 120, FPS: 10}
	smallConfig = Config{Width: 160, Height: 120, FPS: 10, Bitrate: 200_000, SegmentDuration: time.Second}
	mono48      = audio.Format{SampleRate: 48000, Channels: 1}
)

// result is everything one Run produced.
type result struct {
	segs  []segment.Segment
	frags []fmp4.Fragment
	err   error
}

// runPipeline runs p until it returns (or until stop, if given, says so,
// which cancels ctx) and collects what it sent.
func runPipeline(t *testing.T, p *Pipeline, stop func(segs []segment.Segment) bool) result {
	t.Helper()
	var r result
	p.observe = func(f fmp4.Fragment) { r.frags = append(r.frags, f) }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := make(chan segment.Segment)
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx, out) }()
	for s := range out {
		r.segs = append(r.segs, s)
		if stop != nil && stop(r.segs) {
			cancel()
		}
	}
	r.err = <-errc
	return r
}

// checkRecording checks what every recording must satisfy: numbering,
// checksums, IDR at every segment start, no gaps in either track, audio
// never ahead of its fragment's video. It returns the video frames and the
// audio packets.
func checkRecording(t *testing.T, r result, withAudio bool) (frames, packets int) {
	t.Helper()
	if len(r.segs) == 0 && len(r.frags) == 0 {
		return 0, 0
	}
	if len(r.segs) != len(r.frags)+1 {
		t.Fatalf("%d segments for %d fragments: want the init segment first", len(r.segs), len(r.frags))
	}
	var videoAt, audioAt uint64
	for i, s := range r.segs {
		if s.Seq != uint64(i) {
			t.Fatalf("segment %d has Seq %d", i, s.Seq)
		}
		if err := s.Verify(); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := fmp4.ParseInit(s.Data); err != nil {
				t.Fatalf("init segment: %v", err)
			}
			continue
		}
		f := r.frags[i-1]
		if f.Seq != uint32(i) {
			t.Fatalf("fragment %d has Seq %d", i, f.Seq)
		}
		if _, err := fmp4.ParseFragment(s.Data); err != nil {
			t.Fatalf("fragment %d: %v", i, err)
		}
		if len(f.Video) == 0 || !f.Video[0].Keyframe {
			t.Fatalf("fragment %d does not start with a key frame", i)
		}
		if f.VideoDecodeTime != videoAt {
			t.Fatalf("fragment %d: video starts at %d, previous ended at %d", i, f.VideoDecodeTime, videoAt)
		}
		var d uint64
		for j, v := range f.Video {
			if v.Duration == 0 {
				t.Fatalf("fragment %d sample %d: zero duration", i, j)
			}
			d += uint64(v.Duration)
		}
		if s.Start != duration(int64(videoAt), videoTimescale) || s.Duration != duration(int64(d), videoTimescale) {
			t.Fatalf("segment %d: Start %v Duration %v, want %v %v", i, s.Start, s.Duration,
				duration(int64(videoAt), videoTimescale), duration(int64(d), videoTimescale))
		}
		videoAt += d
		frames += len(f.Video)
		if !withAudio {
			if len(f.Audio) != 0 {
				t.Fatalf("fragment %d: audio in a video-only recording", i)
			}
			continue
		}
		if f.AudioDecodeTime != audioAt {
			t.Fatalf("fragment %d: audio starts at %d, previous ended at %d", i, f.AudioDecodeTime, audioAt)
		}
		for _, a := range f.Audio {
			if a.Duration != opusTicks || len(a.Data) == 0 {
				t.Fatalf("fragment %d: audio packet of %d ticks, %d bytes", i, a.Duration, len(a.Data))
			}
			if audioAt*videoTimescale >= videoAt*audioTimescale {
				t.Fatalf("fragment %d: audio packet at %d starts after its video ends at %d", i, audioAt, videoAt)
			}
			audioAt += opusTicks
		}
		packets += len(f.Audio)
	}
	return frames, packets
}

func framesAt(f camera.Format, times ...time.Duration) []camera.Frame {
	out := make([]camera.Frame, len(times))
	for i, d := range times {
		out[i] = cameratest.Frame(f, t0.Add(d), uint8(16+i*7%200))
	}
	return out
}

func every(n int, step, from time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = from + time.Duration(i)*step
	}
	return out
}

func TestPipelineScenarios(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name     string
		cam      func(*cameratest.Camera)
		micFmt   audio.Format
		mic      func(*audiotest.Microphone) // nil: no microphone
		wantErr  error
		frames   int
		segments int   // media segments
		packets  int   // audio packets; -1: don't check
		firstSeg []int // frames in the first segments, if checked
	}{
		{
			name:   "video only",
			cam:    func(c *cameratest.Camera) { c.Push(cameratest.Frames(smallFormat, t0, 35)...); c.End() },
			frames: 35, segments: 4, firstSeg: []int{10, 10, 10, 5},
		},
		{
			name:   "audio and video from the same instant",
			cam:    func(c *cameratest.Camera) { c.Push(cameratest.Frames(smallFormat, t0, 30)...); c.End() },
			micFmt: mono48,
			mic:    func(m *audiotest.Microphone) { m.Push(audiotest.Chunks(mono48, t0, 20*ms, 200)...); m.End() },
			frames: 30, segments: 3, packets: 150, firstSeg: []int{10, 10, 10},
		},
		{
			name: "jittered frame times",
			cam: func(c *cameratest.Camera) {
				times := every(30, 100*ms, 0)
				for i := range times {
					times[i] += time.Duration(i*37%15-7) * ms
				}
				times[0] = 0
				c.Push(framesAt(smallFormat, times...)...)
				c.End()
			},
			micFmt: mono48,
			mic:    func(m *audiotest.Microphone) { m.Push(audiotest.Chunks(mono48, t0, 10*ms, 400)...); m.End() },
			frames: 30, segments: 3, packets: -1,
		},
		{
			name: "half a second without frames",
			cam: func(c *cameratest.Camera) {
				c.Push(framesAt(smallFormat, append(every(10, 100*ms, 0), every(10, 100*ms, 1500*ms)...)...)...)
				c.End()
			},
			micFmt: mono48,
			mic:    func(m *audiotest.Microphone) { m.Push(audiotest.Chunks(mono48, t0, 20*ms, 200)...); m.End() },
			frames: 20, segments: 3, packets: 125, firstSeg: []int{10, 5, 5},
		},
		{
			name: "a frame stamped before its predecessor is dropped",
			cam: func(c *cameratest.Camera) {
				times := every(20, 100*ms, 0)
				times = append(times[:6:6], append([]time.Duration{450 * ms, 500 * ms}, times[6:]...)...)
				c.Push(framesAt(smallFormat, times...)...)
				c.End()
			},
			frames: 20, segments: 2,
		},
		{
			name:   "audio starts a quarter second late",
			cam:    func(c *cameratest.Camera) { c.Push(cameratest.Frames(smallFormat, t0, 20)...); c.End() },
			micFmt: mono48,
			mic: func(m *audiotest.Microphone) {
				m.Push(audiotest.Chunks(mono48, t0.Add(250*ms), 20*ms, 100)...)
				m.End()
			},
			frames: 20, segments: 2, packets: 100,
		},
		{
			name:   "audio starts before the first frame",
			cam:    func(c *cameratest.Camera) { c.Push(cameratest.Frames(smallFormat, t0, 20)...); c.End() },
			micFmt: mono48,
			mic: func(m *audiotest.Microphone) {
				m.Push(audiotest.Chunks(mono48, t0.Add(-310*ms), 20*ms, 150)...)
				m.End()
			},
			frames: 20, segments: 2, packets: 100,
		},
		{
			name:   "a gap in the audio is filled with silence",
			cam:    func(c *cameratest.Camera) { c.Push(cameratest.Frames(smallFormat, t0, 30)...); c.End() },
			micFmt: mono48,
			mic: func(m *audiotest.Microphone) {
				all := audiotest.Chunks(mono48, t0, 20*ms, 150)
				m.Push(all[:50]...)
				m.Push(all[80:]...)
				m.End()
			},
			frames: 30, segments: 3, packets: 150,
		},
		{
			name:   "stereo at 16 kHz",
			cam:    func(c *cameratest.Camera) { c.Push(cameratest.Frames(smallFormat, t0, 20)...); c.End() },
			micFmt: audio.Format{SampleRate: 16000, Channels: 2},
			mic: func(m *audiotest.Microphone) {
				m.Push(audiotest.Chunks(audio.Format{SampleRate: 16000, Channels: 2}, t0, 10*ms, 200)...)
				m.End()
			},
			frames: 20, segments: 2, packets: 100,
		},
		{
			name:   "microphone ends early",
			cam:    func(c *cameratest.Camera) { c.Push(cameratest.Frames(smallFormat, t0, 30)...); c.End() },
			micFmt: mono48,
			mic:    func(m *audiotest.Microphone) { m.Push(audiotest.Chunks(mono48, t0, 20*ms, 25)...); m.End() },
			frames: 30, segments: 3, packets: 25,
		},
		{
			name: "camera unplugged",
			cam: func(c *cameratest.Camera) {
				c.Push(cameratest.Frames(smallFormat, t0, 15)...)
				c.PushError(camera.ErrDisconnected)
			},
			wantErr: camera.ErrDisconnected,
			frames:  15, segments: 2,
		},
		{
			name:   "microphone unplugged",
			cam:    func(c *cameratest.Camera) { c.Push(cameratest.Frames(smallFormat, t0, 30)...) },
			micFmt: mono48,
			mic: func(m *audiotest.Microphone) {
				m.Push(audiotest.Chunks(mono48, t0, 20*ms, 10)...)
				m.PushError(audio.ErrDisconnected)
			},
			wantErr: audio.ErrDisconnected,
			frames:  -1, segments: -1, packets: -1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cam := cameratest.New(smallFormat)
			tc.cam(cam)
			var mic audio.Microphone
			if tc.mic != nil {
				m := audiotest.New(tc.micFmt)
				tc.mic(m)
				mic = m
			}
			p, err := New(smallConfig, cam, mic)
			if err != nil {
				t.Fatal(err)
			}
			r := runPipeline(t, p, nil)
			if tc.wantErr == nil && r.err != nil || !errors.Is(r.err, tc.wantErr) {
				t.Fatalf("Run = %v, want %v", r.err, tc.wantErr)
			}
			frames, packets := checkRecording(t, r, mic != nil)
			if tc.frames >= 0 && frames != tc.frames {
				t.Errorf("%d frames, want %d", frames, tc.frames)
			}
			if tc.segments >= 0 && len(r.frags) != tc.segments {
				t.Errorf("%d media segments, want %d", len(r.frags), tc.segments)
			}
			if mic != nil && tc.packets >= 0 && packets != tc.packets {
				t.Errorf("%d audio packets, want %d", packets, tc.packets)
			}
			for i, n := range tc.firstSeg {
				if i < len(r.frags) && len(r.frags[i].Video) != n {
					t.Errorf("segment %d has %d frames, want %d", i+1, len(r.frags[i].Video), n)
				}
			}
		})
	}
}

func TestPipelineCancelSendsTheLastPartialSegment(t *testing.T) {
	cam := cameratest.New(smallFormat)
	cam.Push(cameratest.Frames(smallFormat, t0, 25)...) // then Read blocks
	mic := audiotest.New(mono48)
	mic.Push(audiotest.Chunks(mono48, t0, 20*time.Millisecond, 100)...)
	p, err := New(smallConfig, cam, mic)
	if err != nil {
		t.Fatal(err)
	}
	// Segment 2 goes out once frame 20 is in; cancel then, with frames
	// 20-24 read or on their way.
	r := runPipeline(t, p, func(segs []segment.Segment) bool { return len(segs) == 3 })
	if r.err != nil {
		t.Fatalf("Run after cancel = %v, want nil", r.err)
	}
	frames, _ := checkRecording(t, r, true)
	if len(r.frags) != 3 || frames < 21 || frames > 25 {
		t.Fatalf("%d media segments with %d frames, want 3 with 21-25 (the partial one included)", len(r.frags), frames)
	}
	if cam.Closed() != 0 || mic.Closed() != 0 {
		t.Fatal("the pipeline closed sources it does not own")
	}
}

func TestPipelineCancelBeforeAnyFrameSendsNothing(t *testing.T) {
	p, err := New(smallConfig, cameratest.New(smallFormat), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := make(chan segment.Segment, 1)
	if err := p.Run(ctx, out); err != nil {
		t.Fatal(err)
	}
	if s, ok := <-out; ok {
		t.Fatalf("got segment %d, want out closed and empty", s.Seq)
	}
}

func TestNewChecksSourcesAgainstConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cam  camera.Camera
		mic  audio.Microphone
		cfg  Config
	}{
		{"no camera", nil, nil, smallConfig},
		{"size differs", cameratest.New(camera.Format{Width: 320, Height: 240, FPS: 10}), nil, smallConfig},
		{"rate differs", cameratest.New(camera.Format{Width: 160, Height: 120, FPS: 30}), nil, smallConfig},
		{"44.1 kHz microphone", cameratest.New(smallFormat), audiotest.New(audio.Format{SampleRate: 44100, Channels: 1}), smallConfig},
		{"6 channels", cameratest.New(smallFormat), audiotest.New(audio.Format{SampleRate: 48000, Channels: 6}), smallConfig},
		{"bad preset", cameratest.New(smallFormat), nil, Config{Width: 160, Height: 120, FPS: 10, Preset: "fastest"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, tc.cam, tc.mic); err == nil {
				t.Fatal("New = nil error")
			}
		})
	}
	p, err := New(Config{Width: 160, Height: 120, FPS: 10}, cameratest.New(smallFormat), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Config(); got.Bitrate != DefaultBitrate || got.Preset != DefaultPreset || got.SegmentDuration != time.Second {
		t.Fatalf("zero fields not defaulted: %+v", got)
	}
}

// TestPipelinePacedInRealTime runs the real sources on the real clock for a
// little over two segments, as on the box, and cancels: the partial
// segment comes out and the audio keeps up with the video.
func TestPipelinePacedInRealTime(t *testing.T) {
	pattern, err := testpattern.New(testpattern.Config{Width: 160, Height: 120, FPS: 10, Paced: true})
	if err != nil {
		t.Fatal(err)
	}
	mic, err := tone.New(tone.Config{Paced: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Width: 160, Height: 120, FPS: 10, SegmentDuration: time.Second}, pattern, mic)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := runPipeline(t, p, func(segs []segment.Segment) bool { return len(segs) == 3 })
	if r.err != nil {
		t.Fatal(r.err)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("two paced segments took %v, want real time", d)
	}
	frames, packets := checkRecording(t, r, true)
	if len(r.frags) != 3 || frames < 21 {
		t.Fatalf("%d segments with %d frames, want 3 with more than 20", len(r.frags), frames)
	}
	videoEnd := r.frags[2].VideoDecodeTime
	for _, s := range r.frags[2].Video {
		videoEnd += uint64(s.Duration)
	}
	audioEnd := uint64(packets * opusTicks)
	// At cancel the last frame still has its full duration ahead of it
	// while the microphone has delivered only what it had captured.
	maxLag := int64(audioTimescale/10 + 2*opusTicks)
	if lag := int64(videoEnd*audioTimescale/videoTimescale) - int64(audioEnd); lag <= -opusTicks || lag > maxLag {
		t.Fatalf("audio ends %d ticks before the video, want less than one frame and two packets (%d)", lag, maxLag)
	}
}

// TestPipelineAudioKeepsUpWithABacklogOfFrames gives the pipeline more
// frames and chunks than it can take at once, as on a box short of CPU
// where a frame always waits: audio is taken first, so at the cancel it
// covers the video. (Taken at random, about one chunk per frame, the audio
// came out a fifth as long as the video under QEMU.)
func TestPipelineAudioKeepsUpWithABacklogOfFrames(t *testing.T) {
	cam := cameratest.New(smallFormat)
	cam.Push(cameratest.Frames(smallFormat, t0, 200)...) // then Read blocks
	mic := audiotest.New(mono48)
	mic.Push(audiotest.Chunks(mono48, t0, 20*time.Millisecond, 1000)...)
	p, err := New(smallConfig, cam, mic)
	if err != nil {
		t.Fatal(err)
	}
	r := runPipeline(t, p, func(segs []segment.Segment) bool { return len(segs) == 7 })
	if r.err != nil {
		t.Fatalf("Run after cancel = %v, want nil", r.err)
	}
	frames, packets := checkRecording(t, r, true)
	if frames < 60 {
		t.Fatalf("%d frames, want at least 60 (six segments)", frames)
	}
	last := r.frags[len(r.frags)-1]
	videoEnd := last.VideoDecodeTime
	for _, s := range last.Video {
		videoEnd += uint64(s.Duration)
	}
	audioEnd := uint64(packets * opusTicks)
	if lag := int64(videoEnd*audioTimescale/videoTimescale) - int64(audioEnd); lag >= opusTicks {
		t.Fatalf("audio ends %.2f s before the video (%d frames, %d packets), want within a packet",
			float64(lag)/audioTimescale, frames, packets)
	}
}

// TestPipelineKeepsTheConfiguredRate feeds frames faster than configured
// (a camera that ignores the rate asked for), and frames at the configured
// rate but dequeued with jitter (a loaded box): either way the recording
// runs at the configured rate, every frame on its grid.
// A camera far slower than configured (one starved of CPU) leaves long
// gaps between frames; the last frame still ends where the sound ends,
// not a whole gap after it.
func TestPipelineLastFrameEndsWithTheSound(t *testing.T) {
	const ms = time.Millisecond
	cam := cameratest.New(smallFormat)
	cam.Push(framesAt(smallFormat, every(4, 1500*ms, 0)...)...) // 0, 1.5, 3, 4.5 s
	cam.End()
	mic := audiotest.New(mono48)
	mic.Push(audiotest.Chunks(mono48, t0, 20*ms, 250)...) // 5 s
	mic.End()
	p, err := New(smallConfig, cam, mic)
	if err != nil {
		t.Fatal(err)
	}
	r := runPipeline(t, p, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	checkRecording(t, r, true)
	var video, sound uint64
	for _, f := range r.frags {
		for _, v := range f.Video {
			video += uint64(v.Duration)
		}
		for _, a := range f.Audio {
			sound += uint64(a.Duration)
		}
	}
	v := time.Duration(video) * time.Second / videoTimescale
	a := time.Duration(sound) * time.Second / audioTimescale
	if v < 4900*ms || v > 5000*ms || a < 4900*ms || a > 5020*ms {
		t.Fatalf("the video lasts %v and the sound %v; want both about 5 s", v, a)
	}
}

func TestPipelineKeepsTheConfiguredRate(t *testing.T) {
	const ms = time.Millisecond
	step := uint32(videoTimescale / smallConfig.FPS)
	for _, tc := range []struct {
		name   string
		times  []time.Duration
		frames int
	}{
		{"25 fps for 10 configured", every(100, 40*ms, 0), 40},
		{"jittered by up to 40 ms", func() []time.Duration {
			times := every(40, 100*ms, 0)
			for i := range times[1:] {
				times[i+1] += time.Duration(i*53%81-40) * ms
			}
			return times
		}(), 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cam := cameratest.New(smallFormat)
			cam.Push(framesAt(smallFormat, tc.times...)...)
			cam.End()
			p, err := New(smallConfig, cam, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := runPipeline(t, p, nil)
			if r.err != nil {
				t.Fatal(r.err)
			}
			frames, _ := checkRecording(t, r, false)
			if frames < tc.frames-1 || frames > tc.frames+1 {
				t.Errorf("%d frames, want %d at %d fps", frames, tc.frames, smallConfig.FPS)
			}
			for _, f := range r.frags {
				if f.VideoDecodeTime%uint64(step) != 0 {
					t.Fatalf("fragment %d starts at %d, off the %d-tick grid", f.Seq, f.VideoDecodeTime, step)
				}
				for i, v := range f.Video {
					if v.Duration%step != 0 {
						t.Fatalf("fragment %d frame %d lasts %d ticks, not a whole number of frames", f.Seq, i, v.Duration)
					}
				}
			}
		})
	}
}
