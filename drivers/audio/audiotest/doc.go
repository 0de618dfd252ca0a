// Package audiotest is a scripted audio.Microphone for other packages'
// tests: queue chunks and errors, unplug it, end it.
package audiotest
