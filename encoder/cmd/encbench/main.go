package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
)

func main() {
	var cfg benchConfig
	var sizes string
	flag.IntVar(&cfg.Frames, "frames", 150, "frames per run")
	flag.IntVar(&cfg.FPS, "fps", 30, "frame rate the encoders are told")
	flag.IntVar(&cfg.Bitrate, "bitrate", 4_000_000, "video bitrate, bit/s")
	flag.StringVar(&cfg.Preset, "preset", "veryfast", "x264 preset for both")
	flag.IntVar(&cfg.Runs, "runs", 1, "runs per encoder and size; the fastest counts")
	flag.StringVar(&sizes, "sizes", "720p,1080p", "comma-separated sizes: 720p, 1080p or WxH")
	flag.StringVar(&cfg.Dir, "dir", "", "folder for the raw frames (default: a temporary one, removed after)")
	flag.StringVar(&cfg.FFmpeg, "ffmpeg", "ffmpeg", "ffmpeg binary")
	flag.Parse()
	for _, s := range strings.Split(sizes, ",") {
		sz, err := parseSize(s)
		if err != nil {
			fmt.Fprintln(os.Stderr, "encbench:", err)
			os.Exit(2)
		}
		cfg.Sizes = append(cfg.Sizes, sz)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "encbench:", err)
		os.Exit(1)
	}
}
