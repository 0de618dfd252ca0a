//go:build cgo

package alsa

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"github.com/gen2brain/malgo"
)

// Open starts capturing from the ALSA device cfg.Device. When the device
// cannot be opened, the error names it and lists the capture devices ALSA
// knows.
//
// Chunks are stamped on cfg.Now's clock (time.Now: the wall clock, as the
// camera's frames), back to back from the first period, whose first
// sample was captured one period before it arrived (see timeline).
func Open(cfg Config) (*Microphone, error) {
	return open(cfg, func(cfg Config, data func([]int16), stopped func(error)) (stream, error) {
		s, err := startMalgo(cfg, data, stopped)
		if err != nil {
			if devs, lerr := Devices(); lerr == nil {
				err = fmt.Errorf("%w (capture devices: %s)", err, listDevices(devs))
			}
		}
		return s, err
	})
}

// Device is an ALSA capture device as Devices lists it.
type Device struct {
	Name        string // what Config.Device takes: "hw:CARD=Loopback,DEV=1"
	Description string
}

// Devices lists the ALSA capture devices, as arecord -L does.
func Devices() ([]Device, error) {
	ctx, err := malgo.InitContext([]malgo.Backend{malgo.BackendAlsa}, malgo.ContextConfig{
		Alsa: malgo.AlsaContextConfig{UseVerboseDeviceEnumeration: 1},
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("alsa: %w", err)
	}
	defer func() {
		ctx.Uninit()
		ctx.Free()
	}()
	infos, err := ctx.Devices(malgo.Capture)
	if err != nil {
		return nil, fmt.Errorf("alsa: list capture devices: %w", err)
	}
	out := make([]Device, len(infos))
	for i, d := range infos {
		out[i] = Device{Name: cString(d.ID[:]), Description: strings.ReplaceAll(d.Name(), "\n", ", ")}
	}
	return out, nil
}

func listDevices(devs []Device) string {
	if len(devs) == 0 {
		return "none"
	}
	names := make([]string, len(devs))
	for i, d := range devs {
		names[i] = fmt.Sprintf("%q (%s)", d.Name, d.Description)
	}
	return strings.Join(names, ", ")
}

// cString is a NUL-terminated name. miniaudio's device ID is a union
// whose ALSA member, the PCM name, comes first.
func cString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

// malgoStream is a running miniaudio capture device.
type malgoStream struct {
	ctx *malgo.AllocatedContext
	dev *malgo.Device
	id  *malgo.DeviceID
	// pin holds id (an allocation of its own: pinning a field of a larger
	// object does not satisfy cgo) while miniaudio may read it.
	pin runtime.Pinner
}

func startMalgo(cfg Config, data func([]int16), stopped func(error)) (stream, error) {
	s := &malgoStream{id: new(malgo.DeviceID)}
	if len(cfg.Device) >= len(s.id) {
		return nil, fmt.Errorf("alsa: device name %q is too long", cfg.Device)
	}
	ctx, err := malgo.InitContext([]malgo.Backend{malgo.BackendAlsa}, malgo.ContextConfig{}, nil)
	if err != nil {
		return nil, fmt.Errorf("alsa: open capture device %q: %w", cfg.Device, err)
	}
	s.ctx = ctx
	// A name that does not start with ':' is opened as it is, so any PCM
	// name (hw:, plughw:, dsnoop:, default) works.
	copy(s.id[:], cfg.Device)
	s.pin.Pin(s.id)

	dc := malgo.DefaultDeviceConfig(malgo.Capture)
	dc.Capture.Format = malgo.FormatS16
	dc.Capture.Channels = uint32(cfg.Format.Channels)
	dc.Capture.DeviceID = unsafe.Pointer(s.id)
	dc.SampleRate = uint32(cfg.Format.SampleRate)
	dc.PeriodSizeInFrames = uint32(cfg.periodFrames())
	dc.Periods = uint32(cfg.Periods)
	channels := cfg.Format.Channels
	dev, err := malgo.InitDevice(ctx.Context, dc, malgo.DeviceCallbacks{
		Data: func(_, in []byte, n uint32) {
			// in is miniaudio's buffer: copy it out.
			out := make([]int16, int(n)*channels)
			for i := range out {
				out[i] = int16(binary.NativeEndian.Uint16(in[2*i:]))
			}
			data(out)
		},
		Stop: func() { stopped(errors.New("the device stopped")) },
	})
	if err != nil {
		s.release()
		return nil, fmt.Errorf("alsa: open capture device %q: %w", cfg.Device, err)
	}
	s.dev = dev
	if err := dev.Start(); err != nil {
		s.Close()
		return nil, fmt.Errorf("alsa: start capture device %q: %w", cfg.Device, err)
	}
	return s, nil
}

// Close stops capture (no callback runs after it) and frees miniaudio's
// device and context.
func (s *malgoStream) Close() error {
	if s.dev != nil {
		s.dev.Uninit()
		s.dev = nil
	}
	s.release()
	return nil
}

func (s *malgoStream) release() {
	if s.ctx != nil {
		s.ctx.Uninit()
		s.ctx.Free()
		s.ctx = nil
	}
	s.pin.Unpin()
}
