package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"twincap/drivers/camera/testpattern"
	"twincap/encoder"
)

type size struct {
	Name          string
	Width, Height int
}

func parseSize(s string) (size, error) {
	switch s = strings.TrimSpace(s); s {
	case "720p":
		return size{s, 1280, 720}, nil
	case "1080p":
		return size{s, 1920, 1080}, nil
	}
	w, h, ok := strings.Cut(s, "x")
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	if !ok || err1 != nil || err2 != nil {
		return size{}, fmt.Errorf("size %q: want 720p, 1080p or WxH", s)
	}
	return size{s, wi, hi}, nil
}

type benchConfig struct {
	Frames, FPS, Bitrate, Runs int
	Preset                     string
	Sizes                      []size
	Dir                        string
	FFmpeg                     string
}

type result struct {
	size                  size
	ours, theirs, startup time.Duration
}

func run(ctx context.Context, cfg benchConfig, w io.Writer) error {
	ffmpeg, err := exec.LookPath(cfg.FFmpeg)
	if err != nil {
		return fmt.Errorf("ffmpeg is needed for the comparison and was not found (%w); install it (apt-get install ffmpeg)", err)
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "encbench"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	var results []result
	for _, sz := range cfg.Sizes {
		raw := filepath.Join(dir, fmt.Sprintf("frames-%dx%d.yuv", sz.Width, sz.Height))
		if err := writeFrames(ctx, raw, sz, cfg.FPS, cfg.Frames); err != nil {
			return err
		}
		r := result{size: sz}
		for range max(1, cfg.Runs) {
			d, err := timeOurs(raw, sz, cfg)
			if err != nil {
				return err
			}
			if r.ours == 0 || d < r.ours {
				r.ours = d
			}
			d, err = timeFFmpeg(ctx, ffmpeg, raw, sz, cfg, cfg.Frames)
			if err != nil {
				return err
			}
			if r.theirs == 0 || d < r.theirs {
				r.theirs = d
			}
			// ffmpeg's start (process, probing, opening x264) costs
			// what one frame costs: timed apart so it can be left out.
			d, err = timeFFmpeg(ctx, ffmpeg, raw, sz, cfg, 1)
			if err != nil {
				return err
			}
			if r.startup == 0 || d < r.startup {
				r.startup = d
			}
		}
		results = append(results, r)
		if cfg.Dir == "" {
			os.Remove(raw)
		}
	}

	fmt.Fprintf(w, "H.264 encode, %d test-pattern frames, preset %s, tune zerolatency, %d bit/s at %d fps, fastest of %d run(s)\n",
		cfg.Frames, cfg.Preset, cfg.Bitrate, cfg.FPS, max(1, cfg.Runs))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "size\tframes\ttwincap fps\tffmpeg fps\tratio\tffmpeg fps w/o start\tratio\t")
	for _, r := range results {
		ours := float64(cfg.Frames) / r.ours.Seconds()
		theirs := float64(cfg.Frames) / r.theirs.Seconds()
		net := float64(cfg.Frames-1) / (r.theirs - r.startup).Seconds()
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.2f\t%.1f\t%.2f\t\n", r.size.Name, cfg.Frames, ours, theirs, ours/theirs, net, ours/net)
	}
	return tw.Flush()
}

// writeFrames writes n frames of the test pattern as raw I420.
func writeFrames(ctx context.Context, path string, sz size, fps, n int) error {
	cam, err := testpattern.New(testpattern.Config{Width: sz.Width, Height: sz.Height, FPS: fps})
	if err != nil {
		return err
	}
	defer cam.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	for range n {
		fr, err := cam.Read(ctx)
		if err != nil {
			f.Close()
			return err
		}
		img := fr.Image
		for _, plane := range [][]byte{img.Y, img.Cb, img.Cr} {
			if _, err := bw.Write(plane); err != nil {
				f.Close()
				return err
			}
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// timeOurs encodes the raw file with encoder.VideoEncoder, as the pipeline
// does (an IDR every second), reading each frame from the file like ffmpeg.
func timeOurs(path string, sz size, cfg benchConfig) (time.Duration, error) {
	start := time.Now()
	enc, err := encoder.NewVideoEncoder(encoder.Config{
		Width: sz.Width, Height: sz.Height, FPS: cfg.FPS, Bitrate: cfg.Bitrate, Preset: cfg.Preset,
	})
	if err != nil {
		return 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		enc.Close()
		return 0, err
	}
	defer f.Close()
	img := image.NewYCbCr(image.Rect(0, 0, sz.Width, sz.Height), image.YCbCrSubsampleRatio420)
	r := bufio.NewReaderSize(f, 1<<20)
	var bytes int
	for i := range cfg.Frames {
		for _, plane := range [][]byte{img.Y, img.Cb, img.Cr} {
			if _, err := io.ReadFull(r, plane); err != nil {
				enc.Close()
				return 0, fmt.Errorf("read frame %d: %w", i, err)
			}
		}
		au, err := enc.Encode(img, i%cfg.FPS == 0)
		if err != nil {
			enc.Close()
			return 0, err
		}
		bytes += len(au)
	}
	if err := enc.Close(); err != nil {
		return 0, err
	}
	if bytes == 0 {
		return 0, errors.New("our encoder produced nothing")
	}
	return time.Since(start), nil
}

// timeFFmpeg runs ffmpeg's libx264 on the first frames of the same file:
// the command of the brief, with -frames:v and quieter logging.
func timeFFmpeg(ctx context.Context, ffmpeg, path string, sz size, cfg benchConfig, frames int) (time.Duration, error) {
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error",
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", fmt.Sprintf("%dx%d", sz.Width, sz.Height), "-r", strconv.Itoa(cfg.FPS),
		"-i", path, "-frames:v", strconv.Itoa(frames),
		"-c:v", "libx264", "-preset", cfg.Preset, "-tune", "zerolatency", "-b:v", strconv.Itoa(cfg.Bitrate),
		"-f", "null", "-"}
	start := time.Now()
	out, err := exec.CommandContext(ctx, ffmpeg, args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("ffmpeg %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return time.Since(start), nil
}
