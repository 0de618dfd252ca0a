// Package camera is the box's view of a video source: a Camera delivers
// 4:2:0 frames stamped with their capture time, so the encoder can put video
// and audio on one clock.
//
// Implementations: testpattern (a generated picture for rooms without a
// camera, and for tests and benchmarks), the V4L2 driver (v4l2, kept open through unplugs by reconnect), and the
// scripted fake in cameratest.
package camera
