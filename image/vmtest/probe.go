//go:build linux

package vmtest

import (
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// Probe is what ffprobe (and a full decode by ffmpeg) says of a recording.
type Probe struct {
	Duration    float64 // seconds
	Size        int64   // bytes
	VideoCodec  string
	Width       int
	Height      int
	FrameRate   float64 // the stream's nominal rate
	VideoFrames int
	// VideoDuration and AudioDuration are each stream's own length.
	VideoDuration float64
	AudioCodec    string
	SampleRate    int
	AudioPackets  int
	AudioDuration float64
	VideoPTS      []float64 // every video frame's time, in seconds, sorted
	AudioPTS      []float64 // every audio packet's time, in seconds, sorted
	DecodeError   string    // what ffmpeg said while decoding it all; empty is good
}

// Jump finds the longest step between consecutive video frames (an outage
// of the box shows as one) and returns the media time before it, the step
// less one frame, and the media time after it.
func (p Probe) Jump() (before, gap, after float64) {
	if len(p.VideoPTS) < 2 || p.FrameRate <= 0 {
		return 0, 0, 0
	}
	step := 1 / p.FrameRate
	at := 0
	for i := 1; i < len(p.VideoPTS); i++ {
		if p.VideoPTS[i]-p.VideoPTS[i-1] > p.VideoPTS[at+1]-p.VideoPTS[at] {
			at = i - 1
		}
	}
	first, last := p.VideoPTS[0], p.VideoPTS[len(p.VideoPTS)-1]
	before = p.VideoPTS[at] + step - first
	gap = p.VideoPTS[at+1] - p.VideoPTS[at] - step
	after = last + step - p.VideoPTS[at+1]
	return before, gap, after
}

// ProbeFile runs ffprobe and ffmpeg on path.
func ProbeFile(path string) (Probe, error) {
	out, err := exec.Command("ffprobe", "-v", "error", "-count_packets", "-show_format", "-show_streams", "-of", "json", path).Output()
	if err != nil {
		return Probe{}, fmt.Errorf("vmtest: ffprobe %s: %w", path, err)
	}
	var info struct {
		Format struct {
			Duration string `json:"duration"`
			Size     string `json:"size"`
		} `json:"format"`
		Streams []struct {
			CodecType  string `json:"codec_type"`
			CodecName  string `json:"codec_name"`
			Width      int    `json:"width"`
			Height     int    `json:"height"`
			RFrameRate string `json:"r_frame_rate"`
			SampleRate string `json:"sample_rate"`
			NbPackets  string `json:"nb_read_packets"`
			Duration   string `json:"duration"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return Probe{}, fmt.Errorf("vmtest: ffprobe %s: %w", path, err)
	}
	var p Probe
	p.Duration, _ = strconv.ParseFloat(info.Format.Duration, 64)
	p.Size, _ = strconv.ParseInt(info.Format.Size, 10, 64)
	for _, s := range info.Streams {
		switch s.CodecType {
		case "video":
			p.VideoCodec, p.Width, p.Height = s.CodecName, s.Width, s.Height
			p.VideoFrames, _ = strconv.Atoi(s.NbPackets)
			p.VideoDuration, _ = strconv.ParseFloat(s.Duration, 64)
			if n, d, ok := strings.Cut(s.RFrameRate, "/"); ok {
				num, _ := strconv.ParseFloat(n, 64)
				den, _ := strconv.ParseFloat(d, 64)
				if den > 0 {
					p.FrameRate = num / den
				}
			}
		case "audio":
			p.AudioCodec = s.CodecName
			p.SampleRate, _ = strconv.Atoi(s.SampleRate)
			p.AudioPackets, _ = strconv.Atoi(s.NbPackets)
			p.AudioDuration, _ = strconv.ParseFloat(s.Duration, 64)
		}
	}
	if p.VideoPTS, err = packetTimes(path, "v:0"); err != nil {
		return Probe{}, err
	}
	if p.AudioCodec != "" {
		if p.AudioPTS, err = packetTimes(path, "a:0"); err != nil {
			return Probe{}, err
		}
	}
	dec, _ := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	p.DecodeError = strings.TrimSpace(string(dec))
	return p, nil
}

// packetTimes is the time of every packet of stream sel, sorted.
func packetTimes(path, sel string) ([]float64, error) {
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", sel, "-show_entries", "packet=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		return nil, fmt.Errorf("vmtest: ffprobe packets %s %s: %w", sel, path, err)
	}
	var ts []float64
	for _, f := range strings.Fields(string(out)) {
		if v, err := strconv.ParseFloat(strings.TrimSuffix(f, ","), 64); err == nil {
			ts = append(ts, v)
		}
	}
	slices.Sort(ts)
	return ts, nil
}

// MaxStep is the longest step between consecutive times of ts.
func MaxStep(ts []float64) float64 {
	var m float64
	for i := 1; i < len(ts); i++ {
		m = max(m, ts[i]-ts[i-1])
	}
	return m
}

// MeanVolume decodes the audio of path from media time from for d
// seconds and returns its mean volume in dB (ffmpeg's volumedetect;
// digital silence is about -91 dB).
func MeanVolume(path string, from, d float64) (float64, error) {
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-ss", fmt.Sprintf("%.3f", from), "-t", fmt.Sprintf("%.3f", d),
		"-i", path, "-vn", "-af", "volumedetect", "-f", "null", "-").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("vmtest: ffmpeg volumedetect %s: %w: %s", path, err, out)
	}
	_, rest, ok := strings.Cut(string(out), "mean_volume:")
	if !ok {
		return 0, fmt.Errorf("vmtest: ffmpeg volumedetect %s: no mean_volume in %q", path, out)
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return 0, fmt.Errorf("vmtest: ffmpeg volumedetect %s: %q", path, out)
	}
	return strconv.ParseFloat(f[0], 64)
}

// OnGrid reports whether every time of ts is a whole number of frames at
// fps after the first (to a millisecond): the recording's timing is that
// rate's, however many frames reached it.
func OnGrid(ts []float64, fps int) bool {
	for _, t := range ts {
		n := (t - ts[0]) * float64(fps)
		if math.Abs(n-math.Round(n)) > 0.001*float64(fps) {
			return false
		}
	}
	return true
}
