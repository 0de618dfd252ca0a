package v4l2

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"twincap/drivers/camera"
)

// Input is one of a device's video inputs. A webcam has one; a capture
// card may have several (HDMI, S-Video, a tuner).
type Input struct {
	Index int
	Name  string
	// DV says the input takes digital video timings (HDMI, SDI): its
	// size and rate are the video mode set on it, not a frame interval.
	DV bool
}

// struct v4l2_dv_timings (linux/videodev2.h): its size (packed), its
// one type, and the flag of a rate 1000/1001 of the nominal one.
const (
	dvTimingsSize  = 132
	dvBTTimings    = 0      // V4L2_DV_BT_656_1120
	dvFlReducedFPS = 1 << 3 // V4L2_DV_FL_REDUCED_FPS
)

// Timings is a digital video mode (struct v4l2_dv_timings). Raw is the
// kernel's struct as the driver gave it, handed back unchanged to set it.
type Timings struct {
	Width, Height int
	Interlaced    bool
	FPS           float64
	Raw           [dvTimingsSize]byte
}

func (t Timings) String() string {
	scan := "p"
	if t.Interlaced {
		scan = "i"
	}
	return fmt.Sprintf("%dx%d%s%s", t.Width, t.Height, scan, fpsText(t.FPS))
}

// fits reports whether t is want's size, progressive, at a rate that
// rounds to want's.
func (t Timings) fits(want camera.Format) bool {
	return t.Width == want.Width && t.Height == want.Height && !t.Interlaced && math.Round(t.FPS) == float64(want.FPS)
}

// source is the part of a device that chooses what it captures: the input
// and, on a DV input, the video mode. input_linux.go implements it with
// the V4L2 ioctls the webcam package lacks; the tests with a fake.
type source interface {
	Inputs() ([]Input, error)
	Input() (int, error)
	SetInput(index int) error
	// Modes lists the DV timings the current input can take.
	Modes() ([]Timings, error)
	Mode() (Timings, error)
	SetMode(Timings) error
}

// selectSource switches dev to the configured input (a name as the device
// lists it, such as "HDMI 1", or its number; "" keeps the current input)
// and, when that input takes DV timings, to the mode of want's size and
// rate. A device that lists no inputs (some drivers do not) is left as it
// is unless an input was configured.
//
// On a real HDMI receiver the mode must be the one the source sends; the
// configured size and rate say what that is. When no listed mode fits,
// the mode in force stays and the format negotiation that follows says
// what the device offers.
func selectSource(path string, dev source, input string, want camera.Format) error {
	ins, err := dev.Inputs()
	if err != nil || len(ins) == 0 {
		switch {
		case input == "":
			return nil
		case err != nil:
			return fmt.Errorf("v4l2: camera %s: input %q configured, but the device lists no inputs: %w", path, input, err)
		}
		return fmt.Errorf("v4l2: camera %s: input %q configured, but the device lists no inputs", path, input)
	}
	cur, err := dev.Input()
	if err != nil {
		return fmt.Errorf("v4l2: camera %s: read the current input: %w", path, err)
	}
	in, ok := findInput(ins, cur, input)
	if !ok {
		if input != "" {
			return fmt.Errorf("v4l2: camera %s has no input %q; it has %s", path, input, describeInputs(ins))
		}
		return nil // the current input is not listed: leave the device be
	}
	if in.Index != cur {
		if err := dev.SetInput(in.Index); err != nil {
			return fmt.Errorf("v4l2: camera %s: switch to input %d (%s): %w", path, in.Index, in.Name, err)
		}
	}
	if !in.DV {
		return nil
	}
	inForce, err := dev.Mode()
	if err == nil && inForce.fits(want) {
		return nil
	}
	modes, err := dev.Modes()
	if err != nil {
		return nil // no list: negotiation reports what the mode in force offers
	}
	if m, ok := pickMode(modes, want); ok && m.Raw != inForce.Raw {
		if err := dev.SetMode(m); err != nil {
			return fmt.Errorf("v4l2: camera %s: set the video mode %v on input %s: %w", path, m, in.Name, err)
		}
	}
	return nil
}

// findInput is the configured input (by name, case and spaces aside, or
// by number), or the current one when none is configured.
func findInput(ins []Input, cur int, input string) (Input, bool) {
	want := strings.TrimSpace(input)
	n, numErr := strconv.Atoi(want)
	for _, in := range ins {
		switch {
		case want == "" && in.Index == cur,
			want != "" && strings.EqualFold(strings.TrimSpace(in.Name), want),
			want != "" && numErr == nil && in.Index == n:
			return in, true
		}
	}
	return Input{}, false
}

// pickMode is the progressive mode of want's size whose rate is nearest
// want's, within half to twice it as for frame intervals.
func pickMode(modes []Timings, want camera.Format) (Timings, bool) {
	var (
		best Timings
		dist = math.Inf(1)
	)
	for _, m := range modes {
		if m.Width != want.Width || m.Height != want.Height || m.Interlaced || m.FPS <= 0 {
			continue
		}
		if !nearRate(m.FPS, want.FPS) {
			continue
		}
		if d := math.Abs(m.FPS - float64(want.FPS)); d < dist {
			best, dist = m, d
		}
	}
	return best, !math.IsInf(dist, 1)
}

// describeInputs is `0 "Webcam 0", 3 "HDMI 0" (DV)`.
func describeInputs(ins []Input) string {
	parts := make([]string, len(ins))
	for i, in := range ins {
		parts[i] = fmt.Sprintf("%d %q", in.Index, in.Name)
		if in.DV {
			parts[i] += " (DV)"
		}
	}
	return strings.Join(parts, ", ")
}

// decodeTimings reads the packed struct v4l2_dv_timings: a type, then
// struct v4l2_bt_timings (width, height, interlaced, polarities, a 64-bit
// pixel clock, then the porches and syncs, standards and flags).
func decodeTimings(raw [dvTimingsSize]byte) (Timings, bool) {
	le := binary.LittleEndian // amd64 and arm64, the boards we build for
	u32 := func(off int) uint32 { return le.Uint32(raw[off:]) }
	if u32(0) != dvBTTimings {
		return Timings{}, false
	}
	width, height, interlaced := u32(4), u32(8), u32(12) != 0
	clock := le.Uint64(raw[20:])
	// hfrontporch, hsync, hbackporch, vfrontporch, vsync, vbackporch,
	// il_vfrontporch, il_vsync, il_vbackporch from offset 28; flags at 68.
	htotal := uint64(width + u32(28) + u32(32) + u32(36))
	vtotal := uint64(height + u32(40) + u32(44) + u32(48))
	if interlaced {
		vtotal += uint64(u32(52) + u32(56) + u32(60))
	}
	t := Timings{Width: int(width), Height: int(height), Interlaced: interlaced, Raw: raw}
	if htotal > 0 && vtotal > 0 {
		t.FPS = float64(clock) / float64(htotal*vtotal)
		if u32(68)&dvFlReducedFPS != 0 {
			t.FPS = t.FPS * 1000 / 1001
		}
	}
	return t, true
}
