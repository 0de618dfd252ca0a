// Package box is the capture box daemon: it owns the interview state
// machine (idle, recording, stopping), checks the fallback policy before a
// start, runs the capture-and-encode pipeline into the interview's buffer
// (the durable journal, or an in-memory window in unbuffered mode), hands
// the buffer to one uplink per server, and drops a journal only once every
// configured server has finalized the recording. Its control API (JSON over
// HTTP) is what the command-line client and, later, the control page use.
//
// The flow of a segment: camera and microphone → encoder.Pipeline →
// buffer.Append (fsync) → uplink.Server for each server → server ingest.
package box
