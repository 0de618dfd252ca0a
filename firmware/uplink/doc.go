// Package uplink carries one interview's segments from the box to one room
// server. Each configured server has its own Server, a goroutine that owns
// an explicit connection state machine (offline, connecting, online,
// recording): it notices a failed server within about a second, keeps
// dialling it, and when it is back re-creates the recording there (the
// server answers where it stopped) and sends what it missed from the buffer.
// In unbuffered mode what the buffer no longer holds is recorded on that
// server as a gap. The two Servers of a room run side by side from one
// buffer, so the segments, decided once on the box, reach both byte for byte.
// At the live edge, with nothing owed, a Server streams the segment the
// encoder is cutting chunk by chunk (stream.go) for the livestream; the
// body ends, and the server acknowledges, only once the buffer holds it.
package uplink
