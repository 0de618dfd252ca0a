package fmp4

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"twincap/encoder/h264"
)

// TestPlaysInFFmpeg muxes a real x264 stream and a real libopus stream into
// an init segment and 1 s fragments, concatenates them as the server does,
// and asks FFmpeg whether the result is the recording it should be. It
// needs ffmpeg and ffprobe and fails, rather than skips, without them: a
// recording nobody has played is not known to play.
func TestPlaysInFFmpeg(t *testing.T) {
	ffmpeg := lookTool(t, "ffmpeg")
	ffprobe := lookTool(t, "ffprobe")
	for _, tc := range []struct {
		name     string
		x264     []string // extra encoder options
		profile  string   // as ffprobe names it
		channels int      // 0: no audio track
	}{
		// What the brief's ffmpeg command gives: testsrc is RGB, so
		// libx264 picks 4:4:4.
		{"high 4:4:4, stereo", nil, "High 4:4:4 Predictive", 2},
		{"baseline 4:2:0, mono", []string{"-pix_fmt", "yuv420p", "-profile:v", "baseline"}, "Constrained Baseline", 1},
		{"high 4:2:0, video only", []string{"-pix_fmt", "yuv420p"}, "High", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			dir := t.TempDir()
			h264File := filepath.Join(dir, "in.h264")
			run(ctx, t, ffmpeg, append(append([]string{"-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "3",
				"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30"}, tc.x264...),
				"-bsf:v", "h264_mp4toannexb", "-f", "h264", h264File)...)
			stream, err := os.ReadFile(h264File)
			if err != nil {
				t.Fatal(err)
			}
			sps, pps, aus := accessUnits(h264.SplitAnnexB(stream))
			if sps == nil || pps == nil || len(aus) != 90 {
				t.Fatalf("x264 stream: SPS %x, PPS %x, %d access units; want both and 90", sps, pps, len(aus))
			}

			var audio *AudioTrack
			var packets []Sample
			if tc.channels > 0 {
				oggFile := filepath.Join(dir, "in.ogg")
				run(ctx, t, ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "3",
					"-ac", strconv.Itoa(tc.channels), "-c:a", "libopus", "-f", "ogg", oggFile)
				ogg, err := os.ReadFile(oggFile)
				if err != nil {
					t.Fatal(err)
				}
				audio, packets, err = readOggOpus(ogg)
				if err != nil {
					t.Fatal(err)
				}
			}

			segments := mux(t, VideoTrack{SPS: sps, PPS: pps}, audio, aus, packets)
			mp4 := filepath.Join(dir, "recording.mp4")
			if err := os.WriteFile(mp4, bytes.Join(segments, nil), 0o644); err != nil {
				t.Fatal(err)
			}

			checkStreams(ctx, t, ffprobe, mp4, tc.profile, tc.channels)
			if out := run(ctx, t, ffmpeg, "-v", "error", "-i", mp4, "-f", "null", "-"); len(out) > 0 {
				t.Errorf("ffmpeg decoding reports:\n%s", out)
			}
			checkVideoTiming(ctx, t, ffprobe, mp4)
			if tc.channels > 0 {
				checkAudioTiming(ctx, t, ffprobe, mp4, packets)
			}
		})
	}
}

func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install ffmpeg (apt-get install ffmpeg)", name)
	}
	return p
}

// run runs a tool and returns its stderr; it fails the test if the tool
// fails.
func run(ctx context.Context, t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := runOut(ctx, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out.stderr
}

type output struct{ stdout, stderr []byte }

func runOut(ctx context.Context, name string, args ...string) (output, error) {
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		return output{}, fmt.Errorf("%s %q: %w\n%s", filepath.Base(name), args, err, e.Bytes())
	}
	return output{o.Bytes(), e.Bytes()}, nil
}

func probeJSON(ctx context.Context, t *testing.T, ffprobe string, v any, args ...string) {
	t.Helper()
	out, err := runOut(ctx, ffprobe, append([]string{"-v", "error", "-of", "json"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.stderr) > 0 {
		t.Errorf("ffprobe %q reports:\n%s", args, out.stderr)
	}
	if err := json.Unmarshal(out.stdout, v); err != nil {
		t.Fatalf("ffprobe %q: %v\n%s", args, err, out.stdout)
	}
}

// accessUnits groups NAL units into access units the way an H.264 decoder
// finds their boundaries (7.4.1.2.3): a new one starts at a parameter set,
// SEI or delimiter after a slice, or at a slice whose first_mb_in_slice is
// 0. x264 with zerolatency writes several slices per picture, so "one
// slice, one frame" would be wrong. Parameter sets go to the init
// segment, as the encoder's muxer does with them.
func accessUnits(nalus [][]byte) (sps, pps []byte, aus [][][]byte) {
	var cur [][]byte
	sawSlice := false
	flush := func() {
		if sawSlice {
			aus = append(aus, cur)
		}
		cur, sawSlice = nil, false
	}
	for _, n := range nalus {
		switch typ := h264.NALType(n); typ {
		case h264.NALSlice, h264.NALIDR:
			firstMB0 := len(n) > 1 && n[1]&0x80 != 0 // ue(v) "1" is 0
			if sawSlice && firstMB0 {
				flush()
			}
			cur, sawSlice = append(cur, n), true
		case h264.NALSPS, h264.NALPPS, h264.NALAUD, h264.NALSEI:
			if sawSlice {
				flush()
			}
			switch typ {
			case h264.NALSPS:
				if sps == nil {
					sps = n
				}
			case h264.NALPPS:
				if pps == nil {
					pps = n
				}
			case h264.NALSEI:
				cur = append(cur, n)
			}
		default:
			cur = append(cur, n)
		}
	}
	flush()
	return sps, pps, aus
}

// mux cuts 30 fps video into fragments that start at keyframes (x264 puts
// one every 30 frames: -g 30) and gives each fragment the audio packets
// that start within its time span.
func mux(t *testing.T, v VideoTrack, a *AudioTrack, aus [][][]byte, packets []Sample) [][]byte {
	t.Helper()
	const frameTicks = 90000 / 30
	init, err := Init(v, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseInit(init); err != nil {
		t.Fatalf("ParseInit: %v", err)
	}
	segments := [][]byte{init}

	var frags []Fragment
	var audioAt uint64 // 48 kHz ticks where the next packet starts
	for i, au := range aus {
		key := h264.IsKeyframe(au)
		if key || len(frags) == 0 {
			if !key {
				t.Fatalf("access unit 0 is not a keyframe")
			}
			frags = append(frags, Fragment{Seq: uint32(len(frags) + 1), VideoDecodeTime: uint64(i * frameTicks), AudioDecodeTime: audioAt})
		}
		f := &frags[len(frags)-1]
		f.Video = append(f.Video, Sample{Data: h264.AVCC(au), Duration: frameTicks, Keyframe: key})
		// Audio up to the end of this frame goes with it.
		end := uint64(i+1) * frameTicks * OpusTimescale / 90000
		for len(packets) > 0 && (audioAt < end || i == len(aus)-1) {
			f.Audio = append(f.Audio, packets[0])
			audioAt += uint64(packets[0].Duration)
			packets = packets[1:]
		}
	}
	if len(frags) != 3 {
		t.Fatalf("%d fragments, want 3 of 1 s", len(frags))
	}
	for _, f := range frags {
		b, err := f.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		info, err := ParseFragment(b)
		if err != nil {
			t.Fatalf("ParseFragment(fragment %d): %v", f.Seq, err)
		}
		if info.Seq != f.Seq || len(info.Tracks[0].Samples) != len(f.Video) {
			t.Fatalf("fragment %d parses as %d with %d video samples", f.Seq, info.Seq, len(info.Tracks[0].Samples))
		}
		segments = append(segments, b)
	}
	return segments
}

func checkStreams(ctx context.Context, t *testing.T, ffprobe, file, profile string, channels int) {
	t.Helper()
	var probe struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			CodecName string `json:"codec_name"`
			Profile   string `json:"profile"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
			Channels  int    `json:"channels"`
			Rate      string `json:"sample_rate"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	probeJSON(ctx, t, ffprobe, &probe, "-show_streams", "-show_format", file)
	wantStreams := 1
	if channels > 0 {
		wantStreams = 2
	}
	if len(probe.Streams) != wantStreams {
		t.Fatalf("%d streams, want %d: %+v", len(probe.Streams), wantStreams, probe.Streams)
	}
	v := probe.Streams[0]
	if v.CodecType != "video" || v.CodecName != "h264" || v.Profile != profile || v.Width != 320 || v.Height != 240 {
		t.Errorf("stream 0: %+v, want h264 %s video 320x240", v, profile)
	}
	if channels > 0 {
		a := probe.Streams[1]
		if a.CodecType != "audio" || a.CodecName != "opus" || a.Channels != channels || a.Rate != "48000" {
			t.Errorf("stream 1: %+v, want opus audio, %d channels at 48000", a, channels)
		}
	}
	d, err := strconv.ParseFloat(probe.Format.Duration, 64)
	if err != nil || math.Abs(d-3) > 0.1 {
		t.Errorf("duration %q, want 3 s ± 0.1", probe.Format.Duration)
	}
}

// checkVideoTiming checks that the 90 frames come out gapless, one every
// 1/30 s, and that the demuxer sees a keyframe exactly where x264 put
// one: those flags are what a player seeks by.
func checkVideoTiming(ctx context.Context, t *testing.T, ffprobe, file string) {
	t.Helper()
	var packets struct {
		Packets []struct {
			PTS      int64  `json:"pts"`
			DTS      int64  `json:"dts"`
			Duration int64  `json:"duration"`
			Flags    string `json:"flags"`
		} `json:"packets"`
	}
	probeJSON(ctx, t, ffprobe, &packets, "-select_streams", "v:0", "-show_entries", "packet=pts,dts,duration,flags", file)
	if len(packets.Packets) != 90 {
		t.Fatalf("%d video packets, want 90", len(packets.Packets))
	}
	for i, p := range packets.Packets {
		wantKey := i%30 == 0
		if p.PTS != int64(i)*3000 || p.DTS != p.PTS || p.Duration != 3000 || (p.Flags[0] == 'K') != wantKey {
			t.Errorf("video packet %d: %+v; want pts=dts=%d, duration 3000, keyframe %v", i, p, i*3000, wantKey)
		}
	}

	var frames struct {
		Frames []struct {
			PTS      int64 `json:"pts"`
			KeyFrame int   `json:"key_frame"`
		} `json:"frames"`
	}
	probeJSON(ctx, t, ffprobe, &frames, "-select_streams", "v:0", "-show_entries", "frame=pts,key_frame", file)
	if len(frames.Frames) != 90 {
		t.Fatalf("%d decoded video frames, want 90", len(frames.Frames))
	}
	for i, f := range frames.Frames {
		if f.PTS != int64(i)*3000 {
			t.Errorf("frame %d: pts %d, want %d (no gaps)", i, f.PTS, i*3000)
		}
	}
}

// checkAudioTiming checks that every Opus packet comes out where the
// durations before it put it. FFmpeg 5.1 gives Opus packets from fragments
// no duration of their own, so the durations are the ones muxed.
func checkAudioTiming(ctx context.Context, t *testing.T, ffprobe, file string, muxed []Sample) {
	t.Helper()
	var packets struct {
		Packets []struct {
			PTS int64 `json:"pts"`
		} `json:"packets"`
	}
	probeJSON(ctx, t, ffprobe, &packets, "-select_streams", "a:0", "-show_entries", "packet=pts", file)
	if len(packets.Packets) != len(muxed) {
		t.Fatalf("%d audio packets, want %d", len(packets.Packets), len(muxed))
	}
	var at int64
	for i, p := range packets.Packets {
		if p.PTS != at {
			t.Errorf("audio packet %d: pts %d, want %d (no gaps)", i, p.PTS, at)
		}
		at += int64(muxed[i].Duration)
	}
}

// readOggOpus returns the Opus stream's header fields and its packets as
// samples. It reads just enough Ogg (RFC 3533) and Ogg Opus (RFC 7845) for
// one logical stream as ffmpeg writes it, and no CRCs.
func readOggOpus(b []byte) (*AudioTrack, []Sample, error) {
	var packets [][]byte
	var cur []byte
	for len(b) > 0 {
		if len(b) < 27 || string(b[:4]) != "OggS" {
			return nil, nil, errors.New("ogg: no page header")
		}
		nseg := int(b[26])
		if len(b) < 27+nseg {
			return nil, nil, errors.New("ogg: truncated segment table")
		}
		lacing := b[27 : 27+nseg]
		body := b[27+nseg:]
		for _, l := range lacing {
			if int(l) > len(body) {
				return nil, nil, errors.New("ogg: truncated page")
			}
			cur = append(cur, body[:l]...)
			body = body[l:]
			if l < 255 { // a packet ends; 255 continues it, maybe on the next page
				packets = append(packets, cur)
				cur = nil
			}
		}
		b = body
	}
	if len(packets) < 3 || !bytes.HasPrefix(packets[0], []byte("OpusHead")) || len(packets[0]) < 19 {
		return nil, nil, errors.New("ogg: no OpusHead")
	}
	head := packets[0]
	a := &AudioTrack{
		Channels:   int(head[9]),
		PreSkip:    binary.LittleEndian.Uint16(head[10:]),
		SampleRate: binary.LittleEndian.Uint32(head[12:]),
	}
	var samples []Sample
	for _, p := range packets[2:] { // after OpusHead and OpusTags
		d, err := opusDuration(p)
		if err != nil {
			return nil, nil, err
		}
		samples = append(samples, Sample{Data: p, Duration: d, Keyframe: true})
	}
	return a, samples, nil
}

// opusDuration is a packet's length in 48 kHz samples, from its TOC byte
// (RFC 6716 3.1).
func opusDuration(p []byte) (uint32, error) {
	if len(p) == 0 {
		return 0, errors.New("opus: empty packet")
	}
	config := p[0] >> 3
	var frame uint32
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = [4]uint32{480, 960, 1920, 2880}[config%4]
	case config < 16: // hybrid: 10, 20 ms
		frame = [2]uint32{480, 960}[config%2]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [4]uint32{120, 240, 480, 960}[config%4]
	}
	switch p[0] & 3 {
	case 0:
		return frame, nil
	case 1, 2:
		return 2 * frame, nil
	default:
		if len(p) < 2 {
			return 0, errors.New("opus: code 3 packet without frame count")
		}
		return uint32(p[1]&0x3f) * frame, nil
	}
}
