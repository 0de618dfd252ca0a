// Package evidencetest gives the evidence package's tests a real
// S3-compatible store: Start runs the pinned MinIO server (built by
// scripts/minio, never part of the module) on 127.0.0.1 with a random free
// port and a temporary data folder, and stops it by its PID when the test
// ends. When the binary is missing the test fails with a message naming
// scripts/minio; TWINCAP_SKIP_MINIO=1 turns that into a skip for a quick
// local run, and is refused when CI is set.
//
// It also holds the fakes the evidence tests use: a Clock that moves only
// when told and a Peer whose answers the test sets.
package evidencetest
