//go:build linux

package vmtest

import (
	"encoding/json"
	"fmt"
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
	AudioCodec  string
	SampleRate  int
	VideoPTS    []float64 // every video frame's time, in seconds, sorted
	DecodeError string    // what ffmpeg said while decoding it all; empty is good
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
		}
	}
	pts, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		return Probe{}, fmt.Errorf("vmtest: ffprobe packets %s: %w", path, err)
	}
	for _, f := range strings.Fields(string(pts)) {
		if v, err := strconv.ParseFloat(strings.TrimSuffix(f, ","), 64); err == nil {
			p.VideoPTS = append(p.VideoPTS, v)
		}
	}
	slices.Sort(p.VideoPTS)
	dec, _ := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	p.DecodeError = strings.TrimSpace(string(dec))
	return p, nil
}
