package v4l2

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The ioctls for inputs and DV timings (linux/videodev2.h), which
// github.com/blackjack/webcam does not have: _IOWR/_IOR('V', nr, size).
const (
	ioctlEnumInput     = 0xc0000000 | 80<<16 | 'V'<<8 | 26  // VIDIOC_ENUMINPUT
	ioctlGetInput      = 0x80000000 | 4<<16 | 'V'<<8 | 38   // VIDIOC_G_INPUT
	ioctlSetInput      = 0xc0000000 | 4<<16 | 'V'<<8 | 39   // VIDIOC_S_INPUT
	ioctlSetDVTimings  = 0xc0000000 | 132<<16 | 'V'<<8 | 87 // VIDIOC_S_DV_TIMINGS
	ioctlGetDVTimings  = 0xc0000000 | 132<<16 | 'V'<<8 | 88 // VIDIOC_G_DV_TIMINGS
	ioctlEnumDVTimings = 0xc0000000 | 148<<16 | 'V'<<8 | 98 // VIDIOC_ENUM_DV_TIMINGS

	inCapDVTimings = 0x00000002 // V4L2_IN_CAP_DV_TIMINGS
)

// v4l2Input is struct v4l2_input (80 bytes on 64-bit Linux).
type v4l2Input struct {
	Index        uint32
	Name         [32]byte
	Type         uint32
	Audioset     uint32
	Tuner        uint32
	Std          uint64
	Status       uint32
	Capabilities uint32
	Reserved     [3]uint32
}

// v4l2EnumDVTimings is struct v4l2_enum_dv_timings (148 bytes).
type v4l2EnumDVTimings struct {
	Index    uint32
	Pad      uint32
	Reserved [2]uint32
	Timings  [dvTimingsSize]byte
}

// fdSource is a source over an open device node.
type fdSource struct{ fd int }

// openSource opens path for selectSource; close it before streaming.
func openSource(path string) (*fdSource, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &fdSource{fd: fd}, nil
}

func (s *fdSource) Close() error { return unix.Close(s.fd) }

func (s *fdSource) ioctl(req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(s.fd), req, uintptr(arg))
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

func (s *fdSource) Inputs() ([]Input, error) {
	var out []Input
	for i := uint32(0); i < 64; i++ {
		in := v4l2Input{Index: i}
		if err := s.ioctl(ioctlEnumInput, unsafe.Pointer(&in)); err != nil {
			if errors.Is(err, unix.EINVAL) {
				return out, nil
			}
			return out, fmt.Errorf("VIDIOC_ENUMINPUT: %w", err)
		}
		name, _, _ := bytes.Cut(in.Name[:], []byte{0})
		out = append(out, Input{Index: int(in.Index), Name: string(name), DV: in.Capabilities&inCapDVTimings != 0})
	}
	return out, nil
}

func (s *fdSource) Input() (int, error) {
	var i int32
	if err := s.ioctl(ioctlGetInput, unsafe.Pointer(&i)); err != nil {
		return 0, fmt.Errorf("VIDIOC_G_INPUT: %w", err)
	}
	return int(i), nil
}

func (s *fdSource) SetInput(index int) error {
	i := int32(index)
	if err := s.ioctl(ioctlSetInput, unsafe.Pointer(&i)); err != nil {
		return fmt.Errorf("VIDIOC_S_INPUT: %w", err)
	}
	return nil
}

func (s *fdSource) Modes() ([]Timings, error) {
	var out []Timings
	for i := uint32(0); i < 1024; i++ {
		e := v4l2EnumDVTimings{Index: i}
		if err := s.ioctl(ioctlEnumDVTimings, unsafe.Pointer(&e)); err != nil {
			if errors.Is(err, unix.EINVAL) && i > 0 {
				return out, nil
			}
			return out, fmt.Errorf("VIDIOC_ENUM_DV_TIMINGS: %w", err)
		}
		if t, ok := decodeTimings(e.Timings); ok {
			out = append(out, t)
		}
	}
	return out, nil
}

func (s *fdSource) Mode() (Timings, error) {
	var raw [dvTimingsSize]byte
	if err := s.ioctl(ioctlGetDVTimings, unsafe.Pointer(&raw)); err != nil {
		return Timings{}, fmt.Errorf("VIDIOC_G_DV_TIMINGS: %w", err)
	}
	t, ok := decodeTimings(raw)
	if !ok {
		return Timings{}, errors.New("VIDIOC_G_DV_TIMINGS: not BT.656/1120 timings")
	}
	return t, nil
}

func (s *fdSource) SetMode(t Timings) error {
	raw := t.Raw
	if err := s.ioctl(ioctlSetDVTimings, unsafe.Pointer(&raw)); err != nil {
		return fmt.Errorf("VIDIOC_S_DV_TIMINGS: %w", err)
	}
	return nil
}
