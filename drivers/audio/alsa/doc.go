// Package alsa is the box's real microphone: an ALSA capture device (a USB
// microphone, or snd-aloop under QEMU) read through
// github.com/gen2brain/malgo (miniaudio, which loads libasound.so.2 when
// the device is opened; building needs cgo but no ALSA headers).
//
// Each period the card delivers becomes one chunk, stamped on the wall
// clock the camera uses. The timestamps run back to back from the first
// period; samples the card lost (an overrun) show as the count falling
// behind the clock, and the hole is filled with silence so that sound and
// picture stay together over a long interview. Stats counts the holes.
//
// The miniaudio part is malgo.go; everything else is tested with a fake
// capture stream and a fake clock.
package alsa
