// Package tone is a microphone for rooms without one and for tests: a
// quiet 440 Hz tone with a louder 1 kHz beep for the first 100 ms of every
// second, when the test pattern's flash square is lit.
//
// A paced tone delivers each chunk when its last sample would have been
// captured, on its clock; an unpaced one delivers chunks as fast as they
// are read, stamped back to back. Either way no sample is ever skipped, so
// the stream is continuous.
package tone
