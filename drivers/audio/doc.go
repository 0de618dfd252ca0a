// Package audio is the box's view of a microphone: a Microphone delivers
// chunks of interleaved 16-bit samples stamped with the capture time of
// their first sample, on the same clock as the camera's frames.
//
// Implementations: tone (a generated tone with a beep every second), the
// ALSA driver (alsa), and the scripted fake in audiotest.
package audio
