package encoder

import (
	"errors"
	"fmt"
	"image"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/x264"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

// x264AssumedFPS is the frame rate libx264 rate control runs at under
// mediadevices v0.9.4: its C bridge copies i_fps_num from a parameter the Go
// side never sets, so x264 falls back to 25 fps and spends Bitrate/25 bits
// per frame. We scale the bitrate we hand over so the real stream, at FPS,
// comes out at Bitrate. The same 25 fps lands in the SPS's VUI timing
// (fixed_frame_rate_flag set), which MP4 players ignore in favour of the
// container's timestamps, but a raw H.264 dump would play at 25 fps.
const x264AssumedFPS = 25

// presets are libx264's preset names in the order of x264.Preset (the
// bridge passes the index, which x264_param_default_preset accepts).
var presets = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}

func presetIndex(name string) (x264.Preset, bool) {
	for i, p := range presets {
		if p == name {
			return x264.Preset(i), true
		}
	}
	return 0, false
}

// VideoEncoder turns 4:2:0 pictures into H.264 access units with libx264
// (through mediadevices): one picture in, one access unit out, no B-frames,
// Annex-B with SPS and PPS in front of every IDR.
type VideoEncoder struct {
	enc  codec.ReadCloser
	kf   codec.KeyFrameController
	w, h int
	next *image.YCbCr // handed to x264 by the reader below
}

var errNoPicture = errors.New("encoder: x264 asked for a picture it was not given")

// NewVideoEncoder opens libx264 for cfg's Width, Height, FPS, Bitrate and
// Preset. Zero fields take the defaults.
func NewVideoEncoder(cfg Config) (*VideoEncoder, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	params, err := x264.NewParams()
	if err != nil {
		return nil, fmt.Errorf("encoder: x264 params: %w", err)
	}
	params.Preset, _ = presetIndex(cfg.Preset)
	params.BitRate = int(int64(cfg.Bitrate) * x264AssumedFPS / int64(cfg.FPS))
	// Segments start with forced IDRs; this only bounds the gap should a
	// segment run long.
	params.KeyFrameInterval = max(1, 2*int(int64(cfg.FPS)*int64(cfg.SegmentDuration)/1e9))

	e := &VideoEncoder{w: cfg.Width, h: cfg.Height}
	src := video.ReaderFunc(func() (image.Image, func(), error) {
		img := e.next
		e.next = nil
		if img == nil {
			return nil, func() {}, errNoPicture
		}
		return img, func() {}, nil
	})
	enc, err := params.BuildVideoEncoder(src, prop.Media{Video: prop.Video{
		Width: cfg.Width, Height: cfg.Height, FrameRate: float32(cfg.FPS), FrameFormat: frame.FormatI420,
	}})
	if err != nil {
		return nil, fmt.Errorf("encoder: open x264 (%dx%d, preset %s): %w", cfg.Width, cfg.Height, cfg.Preset, err)
	}
	kf, ok := enc.Controller().(codec.KeyFrameController)
	if !ok {
		enc.Close()
		return nil, errors.New("encoder: x264 cannot force key frames")
	}
	e.enc, e.kf = enc, kf
	return e, nil
}

// Encode codes one picture; keyframe forces an IDR. The result is one
// Annex-B access unit. img must be 4:2:0 and the configured size; x264
// reads it with the plane strides of a tightly packed picture, so other
// strides are repacked first.
func (e *VideoEncoder) Encode(img *image.YCbCr, keyframe bool) ([]byte, error) {
	if img.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		return nil, fmt.Errorf("encoder: picture is %v, want 4:2:0", img.SubsampleRatio)
	}
	if img.Rect.Dx() != e.w || img.Rect.Dy() != e.h {
		return nil, fmt.Errorf("encoder: picture is %dx%d, want %dx%d", img.Rect.Dx(), img.Rect.Dy(), e.w, e.h)
	}
	if img.YStride != e.w || img.CStride != e.w/2 || img.Rect.Min != (image.Point{}) {
		img = packed(img)
	}
	if keyframe {
		if err := e.kf.ForceKeyFrame(); err != nil {
			return nil, fmt.Errorf("encoder: force key frame: %w", err)
		}
	}
	e.next = img
	au, release, err := e.enc.Read()
	if err != nil {
		return nil, fmt.Errorf("encoder: x264: %w", err)
	}
	release()
	return au, nil
}

// Close releases libx264.
func (e *VideoEncoder) Close() error {
	if err := e.enc.Close(); err != nil {
		return fmt.Errorf("encoder: close x264: %w", err)
	}
	return nil
}

// packed copies img into a tightly packed 4:2:0 picture at the origin.
func packed(img *image.YCbCr) *image.YCbCr {
	r := img.Rect
	out := image.NewYCbCr(image.Rect(0, 0, r.Dx(), r.Dy()), image.YCbCrSubsampleRatio420)
	for y := range r.Dy() {
		i := img.YOffset(r.Min.X, r.Min.Y+y)
		copy(out.Y[y*out.YStride:(y+1)*out.YStride], img.Y[i:i+r.Dx()])
	}
	cw := r.Dx() / 2
	for y := range r.Dy() / 2 {
		i := img.COffset(r.Min.X, r.Min.Y+2*y)
		copy(out.Cb[y*out.CStride:y*out.CStride+cw], img.Cb[i:i+cw])
		copy(out.Cr[y*out.CStride:y*out.CStride+cw], img.Cr[i:i+cw])
	}
	return out
}
