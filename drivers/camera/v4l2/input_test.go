package v4l2

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"twincap/drivers/camera"
)

// fakeSource is a capture card: inputs, one of them current, and the DV
// modes of its DV inputs.
type fakeSource struct {
	inputs  []Input
	current int
	modes   []Timings
	mode    Timings
	set     []string // what was switched, in order
	failSet error
}

func (f *fakeSource) Inputs() ([]Input, error) { return f.inputs, nil }
func (f *fakeSource) Input() (int, error)      { return f.current, nil }
func (f *fakeSource) SetInput(i int) error {
	f.current = i
	f.set = append(f.set, "input "+f.inputs[i].Name)
	return nil
}
func (f *fakeSource) Modes() ([]Timings, error) { return f.modes, nil }
func (f *fakeSource) Mode() (Timings, error)    { return f.mode, nil }
func (f *fakeSource) SetMode(t Timings) error {
	if f.failSet != nil {
		return f.failSet
	}
	f.mode = t
	f.set = append(f.set, "mode "+t.String())
	return nil
}

// rawTimings is a struct v4l2_dv_timings for a CEA-861 progressive mode.
func rawTimings(w, h, hfp, hs, hbp, vfp, vs, vbp uint32, clock uint64, flags uint32) [dvTimingsSize]byte {
	var raw [dvTimingsSize]byte
	le := binary.LittleEndian
	le.PutUint32(raw[4:], w)
	le.PutUint32(raw[8:], h)
	le.PutUint64(raw[20:], clock)
	for i, v := range []uint32{hfp, hs, hbp, vfp, vs, vbp} {
		le.PutUint32(raw[28+4*i:], v)
	}
	le.PutUint32(raw[68:], flags)
	return raw
}

func mode(t *testing.T, raw [dvTimingsSize]byte) Timings {
	t.Helper()
	m, ok := decodeTimings(raw)
	if !ok {
		t.Fatal("decodeTimings refused BT timings")
	}
	return m
}

func TestDecodeTimings(t *testing.T) {
	for _, tc := range []struct {
		raw  [dvTimingsSize]byte
		want string
	}{
		// V4L2_DV_BT_CEA_1280X720P30, P60 and 1920X1080P25.
		{rawTimings(1280, 720, 1760, 40, 220, 5, 5, 20, 74250000, 0), "1280x720p30"},
		{rawTimings(1280, 720, 110, 40, 220, 5, 5, 20, 74250000, 0), "1280x720p60"},
		{rawTimings(1920, 1080, 528, 44, 148, 4, 5, 36, 74250000, 0), "1920x1080p25"},
		{rawTimings(1280, 720, 110, 40, 220, 5, 5, 20, 74250000, dvFlReducedFPS), "1280x720p59.94"},
	} {
		if got := mode(t, tc.raw).String(); got != tc.want {
			t.Errorf("decoded %s, want %s", got, tc.want)
		}
	}
	var other [dvTimingsSize]byte
	other[0] = 1
	if _, ok := decodeTimings(other); ok {
		t.Error("timings of another type were decoded")
	}
}

func hdmiCard(t *testing.T) *fakeSource {
	p30 := mode(t, rawTimings(1280, 720, 1760, 40, 220, 5, 5, 20, 74250000, 0))
	p60 := mode(t, rawTimings(1280, 720, 110, 40, 220, 5, 5, 20, 74250000, 0))
	p25 := mode(t, rawTimings(1920, 1080, 528, 44, 148, 4, 5, 36, 74250000, 0))
	return &fakeSource{
		inputs: []Input{{0, "Webcam 0", false}, {1, "TV 0", false}, {2, "HDMI 0", true}},
		modes:  []Timings{p25, p30, p60},
		mode:   p60,
	}
}

func TestSelectSource(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		want  camera.Format
		set   string
	}{
		{"the current input when none is configured", "", camera.Format{Width: 640, Height: 480, FPS: 15}, ""},
		{"by name, and the mode of the configured size and rate", "hdmi 0", camera.Format{Width: 1280, Height: 720, FPS: 30}, "input HDMI 0, mode 1280x720p30"},
		{"by number", "2", camera.Format{Width: 1920, Height: 1080, FPS: 25}, "input HDMI 0, mode 1920x1080p25"},
		{"the mode in force when it fits", "HDMI 0", camera.Format{Width: 1280, Height: 720, FPS: 60}, "input HDMI 0"},
		{"the nearest rate", "HDMI 0", camera.Format{Width: 1280, Height: 720, FPS: 50}, "input HDMI 0"},
		{"no mode of that size: left for negotiation to report", "HDMI 0", camera.Format{Width: 640, Height: 480, FPS: 30}, "input HDMI 0"},
		{"a webcam input has no modes", "Webcam 0", camera.Format{Width: 1280, Height: 720, FPS: 30}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := hdmiCard(t)
			if err := selectSource("/dev/video0", card, tc.input, tc.want); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(card.set, ", "); got != tc.set {
				t.Fatalf("switched %q, want %q", got, tc.set)
			}
		})
	}
}

func TestSelectSourceRefuses(t *testing.T) {
	card := hdmiCard(t)
	err := selectSource("/dev/video0", card, "SDI 1", camera.Format{Width: 1280, Height: 720, FPS: 30})
	if err == nil || !strings.Contains(err.Error(), `/dev/video0 has no input "SDI 1"; it has 0 "Webcam 0", 1 "TV 0", 2 "HDMI 0" (DV)`) {
		t.Fatalf("an unknown input: %v", err)
	}
	if len(card.set) != 0 {
		t.Fatalf("switched %v for an unknown input", card.set)
	}
	card.failSet = errors.New("device busy")
	err = selectSource("/dev/video0", card, "HDMI 0", camera.Format{Width: 1280, Height: 720, FPS: 30})
	if err == nil || !strings.Contains(err.Error(), "set the video mode 1280x720p30 on input HDMI 0: device busy") {
		t.Fatalf("a mode the card refuses: %v", err)
	}
	none := &fakeSource{}
	if err := selectSource("/dev/video0", none, "", camera.Format{Width: 640, Height: 480, FPS: 30}); err != nil {
		t.Fatalf("a device that lists no inputs, none configured: %v", err)
	}
	if err := selectSource("/dev/video0", none, "HDMI 0", camera.Format{Width: 640, Height: 480, FPS: 30}); err == nil || !strings.Contains(err.Error(), "lists no inputs") {
		t.Fatalf("a device that lists no inputs, one configured: %v", err)
	}
}
