package encoder

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"twincap/drivers/audio/tone"
	"twincap/drivers/camera"
	"twincap/drivers/camera/testpattern"
)

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

// requireTool finds an FFmpeg tool or fails: the recording must be shown to
// play in a real player, so a machine without one is a broken test machine,
// not a reason to skip.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found in PATH: the end-to-end test checks the recording with FFmpeg's ffprobe and ffmpeg; install them (apt-get install ffmpeg): %v", name, err)
	}
	return path
}

func command(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Fatalf("%s %s reported:\n%s", filepath.Base(name), strings.Join(args, " "), stderr.String())
	}
	return stdout.Bytes()
}

type probePacket struct {
	pts int64
	key bool
}

// packets lists one stream's packets as ffprobe sees them.
func packets(t *testing.T, ffprobe, path, stream string) []probePacket {
	t.Helper()
	out := command(t, ffprobe, "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts,flags", "-of", "csv=p=0", path)
	var ps []probePacket
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 2 {
			t.Fatalf("ffprobe packet line %q", line)
		}
		pts, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			t.Fatalf("ffprobe packet line %q: %v", line, err)
		}
		ps = append(ps, probePacket{pts, strings.HasPrefix(f[1], "K")})
	}
	return ps
}

// TestEndToEndRecordingPlays records 3 s of the test pattern and tone at
// 320x240@15, concatenates the segments as a server does, and checks the
// file with ffprobe and ffmpeg: streams, frame count, duration, continuous
// timestamps, a clean decode, and that the flash and the beep land on the
// same instants.
func TestEndToEndRecordingPlays(t *testing.T) {
	ffprobe, ffmpeg := requireTool(t, "ffprobe"), requireTool(t, "ffmpeg")
	const w, h, fps, seconds = 320, 240, 15, 3
	// One clock for both sources, so capture times line up as on the box;
	// unpaced, the frames are still stamped 1/fps apart.
	now := func() time.Time { return t0 }
	pattern, err := testpattern.New(testpattern.Config{Width: w, Height: h, FPS: fps, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	mic, err := tone.New(tone.Config{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Width: w, Height: h, FPS: fps, Bitrate: 500_000, SegmentDuration: time.Second}, &finiteCamera{pattern, fps * seconds}, mic)
	if err != nil {
		t.Fatal(err)
	}
	r := runPipeline(t, p, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	frames, pkts := checkRecording(t, r, true)
	if frames != fps*seconds || len(r.frags) != seconds || pkts != seconds*50 {
		t.Fatalf("%d frames in %d segments with %d audio packets, want %d in %d with %d", frames, len(r.frags), pkts, fps*seconds, seconds, seconds*50)
	}

	var file bytes.Buffer
	for _, s := range r.segs {
		file.Write(s.Data)
	}
	path := filepath.Join(t.TempDir(), "recording.mp4")
	if err := os.WriteFile(path, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	var probe struct {
		Streams []struct {
			CodecType    string `json:"codec_type"`
			CodecName    string `json:"codec_name"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			NbReadFrames string `json:"nb_read_frames"`
			SampleRate   string `json:"sample_rate"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	out := command(t, ffprobe, "-v", "error", "-count_frames", "-show_entries",
		"stream=codec_type,codec_name,width,height,nb_read_frames,sample_rate:format=duration", "-of", "json", path)
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatalf("ffprobe json: %v\n%s", err, out)
	}
	var sawVideo, sawAudio bool
	for _, s := range probe.Streams {
		switch s.CodecType {
		case "video":
			sawVideo = true
			if s.CodecName != "h264" || s.Width != w || s.Height != h || s.NbReadFrames != strconv.Itoa(fps*seconds) {
				t.Errorf("video stream %+v, want h264 %dx%d with %d frames", s, w, h, fps*seconds)
			}
		case "audio":
			sawAudio = true
			if s.CodecName != "opus" || s.SampleRate != "48000" {
				t.Errorf("audio stream %+v, want opus at 48000", s)
			}
		}
	}
	if !sawVideo || !sawAudio {
		t.Fatalf("streams %+v: want one video and one audio", probe.Streams)
	}
	if d, err := strconv.ParseFloat(probe.Format.Duration, 64); err != nil || math.Abs(d-seconds) >= 1 {
		t.Errorf("duration %q, want within a segment of %d s", probe.Format.Duration, seconds)
	}

	// Continuous timestamps, an IDR at each second.
	vp := packets(t, ffprobe, path, "v:0")
	if len(vp) != fps*seconds {
		t.Fatalf("%d video packets, want %d", len(vp), fps*seconds)
	}
	// ffprobe's packet durations come from the H.264 parser, which reads
	// the SPS timing (x264's 25 fps, see x264AssumedFPS); the container's
	// timestamps are what players use, so those are checked.
	for i, pk := range vp {
		if want := int64(i) * 90000 / fps; pk.pts != want {
			t.Fatalf("video packet %d at pts %d, want %d", i, pk.pts, want)
		}
		if want := i%fps == 0; want && !pk.key {
			t.Fatalf("video packet %d: not a key frame at the start of a segment", i)
		}
	}
	ap := packets(t, ffprobe, path, "a:0")
	if len(ap) != seconds*50 {
		t.Fatalf("%d audio packets, want %d", len(ap), seconds*50)
	}
	for i, pk := range ap {
		if want := int64(i) * opusTicks; pk.pts != want {
			t.Fatalf("audio packet %d at pts %d, want %d (20 ms apart, no gaps)", i, pk.pts, want)
		}
	}

	// A clean decode.
	command(t, ffmpeg, "-v", "error", "-i", path, "-f", "null", "-")

	// Sync: the flash square is lit in the frames of the first 100 ms of
	// each second, and the beep starts at each second.
	gray := command(t, ffmpeg, "-v", "error", "-i", path, "-map", "0:v", "-f", "rawvideo", "-pix_fmt", "gray", "-")
	if len(gray) != w*h*fps*seconds {
		t.Fatalf("decoded %d bytes of video, want %d frames", len(gray), fps*seconds)
	}
	fs := (h / 8) &^ 1 // the flash square's side, as testpattern draws it
	for n := range fps * seconds {
		px := gray[n*w*h+(fs/4+fs/2)*w+w-fs/4-fs/2]
		lit := time.Duration(n)*time.Second/fps%time.Second < testpattern.FlashDuration
		if (px > 180) != lit {
			t.Errorf("frame %d: flash pixel %d, want lit=%v", n, px, lit)
		}
	}
	pcmBytes := command(t, ffmpeg, "-v", "error", "-i", path, "-map", "0:a", "-f", "s16le", "-ac", "1", "-ar", "48000", "-")
	pcm := make([]int16, len(pcmBytes)/2)
	binary.Read(bytes.NewReader(pcmBytes), binary.LittleEndian, pcm)
	if got, want := len(pcm), seconds*48000; got < want-960 || got > want+960 {
		t.Errorf("decoded %d audio samples, want about %d", got, want)
	}
	for sec := 1; sec < seconds; sec++ {
		onset := -1
		for i := sec*48000 - 24000; i < min(len(pcm), sec*48000+24000); i++ {
			if pcm[i] > 10000 || pcm[i] < -10000 {
				onset = i
				break
			}
		}
		if d := time.Duration(onset-sec*48000) * time.Second / 48000; onset < 0 || d < -20*time.Millisecond || d > 20*time.Millisecond {
			t.Errorf("beep %d starts at sample %d (%v from the flash), want within 20ms", sec, onset, d)
		}
	}
}
