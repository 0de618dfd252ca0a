// Package cameratest is a scripted camera.Camera for other packages' tests:
// queue frames and errors, unplug it, and count what was read.
package cameratest
