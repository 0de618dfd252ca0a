package encoder

import (
	"context"
	"image"
	"testing"

	"twincap/drivers/camera/testpattern"
)

// BenchmarkVideoEncoder measures our x264 path alone (an IDR every 30
// frames, as 1 s segments at 30 fps); cmd/encbench compares it with ffmpeg.
func BenchmarkVideoEncoder(b *testing.B) {
	for _, sz := range []struct {
		name string
		w, h int
	}{{"720p", 1280, 720}, {"1080p", 1920, 1080}} {
		b.Run(sz.name, func(b *testing.B) {
			cam, err := testpattern.New(testpattern.Config{Width: sz.w, Height: sz.h, FPS: 30})
			if err != nil {
				b.Fatal(err)
			}
			var frames []*image.YCbCr
			for range 60 {
				f, err := cam.Read(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				frames = append(frames, f.Image)
			}
			enc, err := NewVideoEncoder(Config{Width: sz.w, Height: sz.h, FPS: 30})
			if err != nil {
				b.Fatal(err)
			}
			defer enc.Close()
			n := 0
			for b.Loop() {
				if _, err := enc.Encode(frames[n%len(frames)], n%30 == 0); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}
