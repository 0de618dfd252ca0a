// Package e2e runs a whole room on this machine with real processes on
// loopback: two room servers and a capture box on a test pattern, built
// from this tree. Its tests kill servers in the middle of an interview and
// check, with ffprobe, that the recordings on both servers are whole,
// byte-identical and playable, and run the server pair's settings check,
// FIPS 140-3 mode and audit trails (pair_test.go).
package e2e
