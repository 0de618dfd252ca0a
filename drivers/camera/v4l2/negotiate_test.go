package v4l2

import (
	"errors"
	"strings"
	"testing"

	"twincap/drivers/camera"
)

func rates(fps ...uint32) []Rate {
	out := make([]Rate, len(fps))
	for i, f := range fps {
		out[i] = Rate{Min: Interval{1, f}, Max: Interval{1, f}}
	}
	return out
}

// vividLike offers what vivid's webcam input offers (abridged): YUYV and
// NV12 at a few sizes, rates falling with size, no MJPEG.
var vividLike = []Offer{
	{YUYV, Discrete(320, 180), rates(1, 5, 10, 15, 25, 30, 50, 60)},
	{YUYV, Discrete(640, 480), rates(1, 5, 10, 15, 25, 30, 50, 60)},
	{YUYV, Discrete(1280, 720), rates(1, 5, 10, 15, 25, 30)},
	{NV12, Discrete(640, 480), rates(25, 30)},
	{NV12, Discrete(1280, 720), rates(25, 30)},
	{PixelFormat('R' | 'G'<<8 | 'B'<<16 | '3'<<24), Discrete(640, 480), rates(30)},
}

// uvcLike offers what a USB webcam typically does: YUYV is slow at large
// sizes (USB 2 bandwidth), MJPEG is fast.
var uvcLike = []Offer{
	{YUYV, Discrete(640, 480), rates(30, 25, 20, 15, 10, 5)},
	{YUYV, Discrete(1280, 720), rates(10, 5)},
	{MJPEG, Discrete(640, 480), rates(30, 25, 20, 15, 10, 5)},
	{MJPEG, Discrete(1280, 720), rates(30, 25, 20, 15, 10, 5)},
	{MJPEG, Discrete(1920, 1080), rates(30, 25, 20, 15, 10, 5)},
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		offers  []Offer
		want    camera.Format
		prefer  []string
		pixel   PixelFormat
		fps     float64
		wantErr string // substrings of the error, | separated; empty: no error
	}{
		{name: "exact match", offers: vividLike, want: camera.Format{Width: 1280, Height: 720, FPS: 25}, pixel: YUYV, fps: 25},
		{name: "nearest fps, faster on a tie", offers: []Offer{{YUYV, Discrete(640, 480), rates(20, 30)}}, want: camera.Format{Width: 640, Height: 480, FPS: 25}, pixel: YUYV, fps: 30},
		{name: "nearest fps below", offers: []Offer{{YUYV, Discrete(640, 480), rates(5, 24, 60)}}, want: camera.Format{Width: 640, Height: 480, FPS: 25}, pixel: YUYV, fps: 24},
		{name: "fractional rate", offers: []Offer{{YUYV, Discrete(640, 480), []Rate{{Interval{1001, 30000}, Interval{1001, 30000}}}}}, want: camera.Format{Width: 640, Height: 480, FPS: 30}, pixel: YUYV, fps: 30000.0 / 1001},
		{name: "rate too far off", offers: []Offer{{YUYV, Discrete(640, 480), rates(5, 10)}}, want: camera.Format{Width: 640, Height: 480, FPS: 25},
			wantErr: "configured 640x480@25 is not available|YUYV 640x480@5/10"},
		{name: "missing size", offers: vividLike, want: camera.Format{Width: 1920, Height: 1080, FPS: 30},
			wantErr: "v4l2: camera /dev/video9 offers YUYV 320x180@1/5/10/15/25/30/50/60, 640x480@1/5/10/15/25/30/50/60, 1280x720@1/5/10/15/25/30; NV12 640x480@25/30, 1280x720@25/30; also RGB3 (not supported); configured 1920x1080@30 is not available"},
		{name: "MJPEG only", offers: []Offer{{MJPEG, Discrete(1280, 720), rates(30, 15)}}, want: camera.Format{Width: 1280, Height: 720, FPS: 30}, pixel: MJPEG, fps: 30},
		{name: "rate beats preference", offers: uvcLike, want: camera.Format{Width: 1280, Height: 720, FPS: 25}, pixel: MJPEG, fps: 25},
		{name: "preference on equal rates", offers: uvcLike, want: camera.Format{Width: 640, Height: 480, FPS: 25}, pixel: YUYV, fps: 25},
		{name: "configured preference", offers: uvcLike, want: camera.Format{Width: 640, Height: 480, FPS: 25}, prefer: []string{"mjpg", "yuyv"}, pixel: MJPEG, fps: 25},
		{name: "NV12", offers: vividLike, want: camera.Format{Width: 640, Height: 480, FPS: 30}, prefer: []string{"NV12"}, pixel: NV12, fps: 30},
		{name: "preference excludes the only format", offers: vividLike, want: camera.Format{Width: 640, Height: 480, FPS: 30}, prefer: []string{"MJPEG"},
			wantErr: "configured 640x480@30 in MJPEG is not available"},
		{name: "unsupported format only", offers: []Offer{{PixelFormat('G' | 'R'<<8 | 'E'<<16 | 'Y'<<24), Discrete(640, 480), rates(30)}}, want: camera.Format{Width: 640, Height: 480, FPS: 30},
			wantErr: "offers also GREY (not supported); configured 640x480@30"},
		{name: "stepwise size and rate range", offers: []Offer{{YUYV, Size{16, 1920, 8, 16, 1080, 8}, []Rate{{Min: Interval{1, 60}, Max: Interval{1, 1}}}}}, want: camera.Format{Width: 1024, Height: 576, FPS: 25}, pixel: YUYV, fps: 25},
		{name: "rate range clamps", offers: []Offer{{YUYV, Discrete(640, 480), []Rate{{Min: Interval{1, 20}, Max: Interval{1, 5}}}}}, want: camera.Format{Width: 640, Height: 480, FPS: 25}, pixel: YUYV, fps: 20},
		{name: "size off the step", offers: []Offer{{YUYV, Size{16, 1920, 16, 16, 1072, 16}, rates(30)}}, want: camera.Format{Width: 1000, Height: 600, FPS: 30},
			wantErr: "offers YUYV 16-1920x16-1072@30; configured 1000x600@30"},
		{name: "no rates listed", offers: []Offer{{NV12, Discrete(640, 480), nil}}, want: camera.Format{Width: 640, Height: 480, FPS: 25}, pixel: NV12, fps: 25},
		{name: "listed rates win over none", offers: []Offer{{YUYV, Discrete(640, 480), nil}, {NV12, Discrete(640, 480), rates(25)}}, want: camera.Format{Width: 640, Height: 480, FPS: 25}, pixel: NV12, fps: 25},
		{name: "nothing offered", want: camera.Format{Width: 640, Height: 480, FPS: 25}, wantErr: "offers nothing; configured 640x480@25"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefs, err := parsePreference(tc.prefer)
			if err != nil {
				t.Fatal(err)
			}
			dev := newFakeDevice(tc.offers...)
			got, err := negotiate("/dev/video9", enumerate(dev, tc.want), tc.want, prefs, len(tc.prefer) > 0)
			if tc.wantErr != "" {
				var fe *FormatError
				if !errors.As(err, &fe) {
					t.Fatalf("negotiate = %+v, %v; want a *FormatError", got, err)
				}
				for _, s := range strings.Split(tc.wantErr, "|") {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q\ndoes not say %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.pixel != tc.pixel || got.fps != tc.fps {
				t.Fatalf("negotiated %v at %v fps, want %v at %v", got.pixel, got.fps, tc.pixel, tc.fps)
			}
		})
	}
}

func TestParsePixelFormat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want PixelFormat
		ok   bool
	}{
		{"YUYV", YUYV, true}, {"yuyv", YUYV, true}, {" NV12 ", NV12, true},
		{"MJPEG", MJPEG, true}, {"MJPG", MJPEG, true}, {"H264", 0, false}, {"", 0, false},
	} {
		got, err := ParsePixelFormat(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParsePixelFormat(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if _, err := parsePreference([]string{"YUYV", "RGB"}); err == nil || !strings.Contains(err.Error(), `"RGB"`) {
		t.Errorf("parsePreference with RGB: %v", err)
	}
	if got, _ := parsePreference([]string{"NV12", "nv12", "YUYV"}); len(got) != 2 || got[0] != NV12 || got[1] != YUYV {
		t.Errorf("repeats kept: %v", got)
	}
	for p, name := range map[PixelFormat]string{YUYV: "YUYV", NV12: "NV12", MJPEG: "MJPEG", 'Y' | '1'<<8 | '6'<<16 | ' '<<24: "Y16", 1: "????"} {
		if p.String() != name {
			t.Errorf("%#x.String() = %q, want %q", uint32(p), p.String(), name)
		}
	}
}
