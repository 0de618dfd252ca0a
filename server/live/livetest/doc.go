// Package livetest helps test live streaming: it records real segments
// with the box's encoder on its test sources (Record, Paced), and it is a
// WHEP viewer made of pion (Dial) that keeps every video frame and audio
// packet it receives, with arrival times, so tests can check NAL types,
// timestamps and pacing. Everything runs on loopback.
package livetest
