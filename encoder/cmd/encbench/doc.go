// Command encbench compares our H.264 path (libx264 through
// pion/mediadevices, as the encoder package drives it) with ffmpeg's
// libx264 on the same raw test-pattern frames, and prints frames per second
// for both and their ratio.
//
//	go run ./encoder/cmd/encbench -frames 150 -sizes 720p,1080p
package main
