// Package testpattern is a camera for rooms without one, and the picture the
// tests and benchmarks encode: scrolling colour bars, a bouncing box, a
// square that flashes for the first 100 ms of every second (the tone
// package beeps at the same moments, so lip sync can be checked by eye and
// ear) and a seven-segment clock showing the elapsed time and frame number.
// With Stamp set, a strip of black and white cells along the bottom
// carries each frame's capture time, so a viewer on the same machine can
// read glass-to-glass latency off the decoded picture (ReadStamp does it
// in Go, the viewer page with ?stamp=1 in the browser).
//
// A paced pattern delivers frames in real time on its clock, dropping
// frames (as a real camera does) when the reader falls behind; an unpaced
// one delivers them as fast as they are read, stamped 1/FPS apart.
package testpattern
