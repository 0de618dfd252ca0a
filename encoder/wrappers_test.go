package encoder

import (
	"bytes"
	"context"
	"image"
	"math/rand/v2"
	"testing"
	"time"

	"twincap/drivers/audio/tone"
	"twincap/drivers/camera/testpattern"
)

// nalTypes lists the NAL unit types of an Annex-B access unit without the
// h264 package, so the wrapper is checked independently of it.
func nalTypes(au []byte) []byte {
	var types []byte
	for i := 0; i+3 < len(au); i++ {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 {
			types = append(types, au[i+3]&0x1f)
			i += 3
		}
	}
	return types
}

func TestVideoEncoderForcesIDR(t *testing.T) {
	cfg := Config{Width: 320, Height: 240, FPS: 15, Bitrate: 500_000}
	enc, err := NewVideoEncoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	cam, err := testpattern.New(testpattern.Config{Width: 320, Height: 240, FPS: 15})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		f, err := cam.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		key := i%15 == 0 || i == 7
		au, err := enc.Encode(f.Image, key)
		if err != nil {
			t.Fatal(err)
		}
		types := nalTypes(au)
		idr := bytes.IndexByte(types, 5) >= 0
		if key && !idr {
			t.Fatalf("frame %d: types %v, IDR asked %v", i, types, key)
		}
		if key && (bytes.IndexByte(types, 7) < 0 || bytes.IndexByte(types, 8) < 0) {
			t.Fatalf("frame %d: IDR without SPS/PPS: %v", i, types)
		}
	}
}

func TestAudioEncoderMakes20msPackets(t *testing.T) {
	for _, tc := range []struct{ rate, channels int }{{48000, 1}, {48000, 2}, {16000, 1}} {
		enc, err := NewAudioEncoder(tc.rate, tc.channels, 64000)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := enc.FrameSamples(), tc.rate/50*tc.channels; got != want {
			t.Fatalf("%+v: FrameSamples = %d, want %d", tc, got, want)
		}
		pcm := tone.Generate(0, tc.rate, tc.rate, tc.channels, 440)
		for i := 0; i < len(pcm); i += enc.FrameSamples() {
			pkt, err := enc.Encode(pcm[i : i+enc.FrameSamples()])
			if err != nil {
				t.Fatal(err)
			}
			if len(pkt) < 2 || pkt[0]&3 != 0 || opusFrameDuration(pkt[0]) != 20*time.Millisecond {
				t.Fatalf("%+v: packet %d: % x...", tc, i, pkt[:min(4, len(pkt))])
			}
		}
		if _, err := enc.Encode(make([]int16, 7)); err == nil {
			t.Fatal("Encode took a short buffer")
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ rate, channels int }{{44100, 1}, {48000, 3}, {48000, 0}} {
		if _, err := NewAudioEncoder(tc.rate, tc.channels, 64000); err == nil {
			t.Fatalf("NewAudioEncoder(%d, %d) = nil error", tc.rate, tc.channels)
		}
	}
}

// opusFrameDuration reads the frame length from an Opus TOC byte (RFC 6716
// section 3.1).
func opusFrameDuration(toc byte) time.Duration {
	c := toc >> 3
	switch {
	case c < 12: // SILK
		return []time.Duration{10, 20, 40, 60}[c%4] * time.Millisecond
	case c < 16: // hybrid
		return []time.Duration{10, 20}[c%2] * time.Millisecond
	default: // CELT
		return []time.Duration{2500, 5000, 10000, 20000}[c%4] * time.Microsecond
	}
}

// TestVideoEncoderBitrateDoesNotFollowFPS checks the compensation for x264
// assuming 25 fps (x264AssumedFPS): without it, 30 fps would come out at
// twice the bitrate of 15 fps.
func TestVideoEncoderBitrateDoesNotFollowFPS(t *testing.T) {
	const target, seconds = 300_000, 6
	rate := map[int]int{}
	for _, fps := range []int{15, 30} {
		enc, err := NewVideoEncoder(Config{Width: 160, Height: 120, FPS: fps, Bitrate: target})
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		total := 0
		for i := range fps * seconds {
			img := image.NewYCbCr(image.Rect(0, 0, 160, 120), image.YCbCrSubsampleRatio420)
			for j := range img.Y {
				img.Y[j] = uint8(rng.IntN(256))
			}
			au, err := enc.Encode(img, i%fps == 0)
			if err != nil {
				t.Fatal(err)
			}
			total += len(au)
		}
		enc.Close()
		rate[fps] = total * 8 / seconds
		// Noise is the worst case for rate control: x264 overshoots it.
		if rate[fps] < target*8/10 || rate[fps] > target*16/10 {
			t.Errorf("%d fps: %d bit/s, want about %d", fps, rate[fps], target)
		}
	}
	if r := float64(rate[30]) / float64(rate[15]); r < 0.75 || r > 1.33 {
		t.Errorf("30 fps makes %.2f times the bits of 15 fps (%v), want about 1", r, rate)
	}
}
