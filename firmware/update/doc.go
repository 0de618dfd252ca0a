// Package update reads, checks and writes the box's signed update bundles.
//
// A bundle is a tar archive: manifest.json (format, product, version, the
// board it is for, when it was made, and each payload's name, size and
// SHA-256), manifest.sig (an ECDSA P-256 / SHA-256 signature over the
// manifest's exact bytes, naming the key by its ID), then the payloads in
// the manifest's order. Verify checks all of it before anything is
// written: the signature against the box's trusted keys, the format, the
// product and the board, then every payload's size and hash as it
// streams. Install verifies the whole bundle first and only then writes
// the payloads to a Target, checking them again on the way.
//
// ECDSA P-256 with SHA-256 is approved by FIPS 186-4 and 186-5 and works
// in Go's FIPS 140-3 mode (GODEBUG=fips140=only); it is the algorithm of
// the room's TLS certificates and the one every HSM and KMS that could
// hold the release key offers.
package update
