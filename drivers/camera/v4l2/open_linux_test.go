package v4l2

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/blackjack/webcam"

	"twincap/drivers/camera"
)

func TestOpenRejects(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "video99")
	for _, tc := range []struct {
		name   string
		path   string
		want   camera.Format
		prefer []string
		text   string
	}{
		{"missing device", missing, camera.Format{Width: 640, Height: 480, FPS: 25}, nil, "open camera " + missing},
		{"odd size", missing, camera.Format{Width: 641, Height: 480, FPS: 25}, nil, "must be even"},
		{"unknown pixel format", missing, camera.Format{Width: 640, Height: 480, FPS: 25}, []string{"H264"}, `"H264"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Open(tc.path, tc.want, Options{Prefer: tc.prefer})
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.text) || !strings.HasPrefix(err.Error(), "v4l2: ") {
				t.Fatalf("Open = %v, want it to say %q", err, tc.text)
			}
		})
	}
	_, err := Open(missing, camera.Format{Width: 640, Height: 480, FPS: 25}, Options{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing device: %v, want os.ErrNotExist", err)
	}
}

func TestOpenRejectsAFileThatIsNoCamera(t *testing.T) {
	p := filepath.Join(t.TempDir(), "video0")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p, camera.Format{Width: 640, Height: 480, FPS: 25}, Options{}); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("Open(a plain file) = %v", err)
	}
	if got := discover([]string{p}, func(p string) (device, func() (string, string), error) {
		w, err := webcam.Open(p)
		if err != nil {
			return nil, nil, err
		}
		return webcamDevice{w}, nil, nil
	}); len(got) != 0 {
		t.Fatalf("discovered %v in a plain file", got)
	}
}

func TestWebcamTypes(t *testing.T) {
	for _, tc := range []struct {
		in   webcam.FrameSize
		want Size
	}{
		{webcam.FrameSize{MinWidth: 640, MaxWidth: 640, MinHeight: 480, MaxHeight: 480}, Discrete(640, 480)},
		{webcam.FrameSize{MinWidth: 16, MaxWidth: 1920, StepWidth: 8, MinHeight: 16, MaxHeight: 1080, StepHeight: 8}, Size{16, 1920, 8, 16, 1080, 8}},
	} {
		if got := sizeOf(tc.in); got != tc.want {
			t.Errorf("sizeOf(%+v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	if any := sizeOf(webcam.FrameSize{}); !any.Fits(1280, 720) || !any.Fits(3840, 2160) || any.Fits(641, 480) {
		t.Errorf("a continuous size the webcam package leaves blank should fit any even size: %+v", any)
	}
	discrete := rateOf(webcam.FrameRate{MinNumerator: 1, MaxNumerator: 1, MinDenominator: 25, MaxDenominator: 25})
	if !discrete.single() || discrete.Min.FPS() != 25 || discrete.String() != "25" {
		t.Errorf("discrete rate %+v", discrete)
	}
	stepwise := rateOf(webcam.FrameRate{MinNumerator: 1, MaxNumerator: 1, StepNumerator: 1, MinDenominator: 60, MaxDenominator: 1, StepDenominator: 1})
	if stepwise.single() || stepwise.Min.FPS() != 60 || stepwise.Max.FPS() != 1 || stepwise.String() != "1-60" {
		t.Errorf("stepwise rate %+v %v", stepwise, stepwise)
	}
}

// TestDiscoverHere runs the real Discover. This machine may have no
// camera at all; what it finds must at least be well formed.
func TestDiscoverHere(t *testing.T) {
	devs, err := Discover()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if !strings.HasPrefix(d.Path, "/dev/video") {
			t.Errorf("discovered %v", d)
		}
	}
}

// The ioctl structs must be the kernel's size, or the ioctl numbers
// (which encode the size) name other requests.
func TestIoctlStructSizes(t *testing.T) {
	if s := unsafe.Sizeof(v4l2Input{}); s != 80 {
		t.Errorf("struct v4l2_input is %d bytes, want 80", s)
	}
	if s := unsafe.Sizeof(v4l2EnumDVTimings{}); s != 148 {
		t.Errorf("struct v4l2_enum_dv_timings is %d bytes, want 148", s)
	}
}
