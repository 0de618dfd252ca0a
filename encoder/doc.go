// Package encoder turns a camera and a microphone into the segments of a
// recording: H.264 (libx264) and Opus (libopus), both through
// pion/mediadevices, cut into fragmented-MP4 segments of about
// SegmentDuration that each start with an IDR frame and carry the audio of
// the same time span. Segment 0 is the init segment; the concatenation of
// all segments in order is a playable MP4.
//
// Both tracks are timed from capture times on one clock, relative to the
// first video frame, so they stay in sync however the sources jitter.
package encoder
