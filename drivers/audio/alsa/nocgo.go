//go:build !cgo

package alsa

import "errors"

// errNoCgo: miniaudio is C, built through cgo.
var errNoCgo = errors.New("alsa: built without cgo; the ALSA microphone needs it")

// Open fails: this build has no cgo.
func Open(cfg Config) (*Microphone, error) { return nil, errNoCgo }

// Device is an ALSA capture device as Devices lists it.
type Device struct {
	Name        string
	Description string
}

// Devices fails: this build has no cgo.
func Devices() ([]Device, error) { return nil, errNoCgo }
