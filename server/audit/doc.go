// Package audit is a room server's audit trail: who logged in, started,
// stopped or cancelled a recording, changed settings, uploaded or deleted
// evidence, updated the software.
//
// The trail is one append-only file of JSON lines. Each entry carries the
// hash of the entry before it, so that removing, altering, reordering or
// inserting an entry breaks the chain and Verify finds it. The hashes are
// SHA-256 (FIPS 140-3 approved) over a fixed binary encoding:
//
//	rec  = SHA-256("twincap-audit-recording-v1\x00" || recording ID)
//	body = SHA-256("twincap-audit-body-v1\x00" || field(time) || field(actor) || field(action) || field(details))
//	hash = SHA-256("twincap-audit-link-v1\x00" || prev || uint64be(seq) || rec || body)
//
// where field(x) is x's length as a big-endian uint32 followed by x, time is
// RFC 3339 in UTC with nanoseconds, and prev is the previous entry's hash
// (32 zero bytes for the first). A line must be exactly the canonical
// encoding of its entry, so that any edited byte is detected.
//
// Append returns only after the entry is written and fsynced. Open cuts a
// torn tail — an unterminated last line, or a last line holding NUL bytes:
// the trace of a write that a power cut interrupted, never acknowledged —
// and records the cut as an entry of its own; anything else that does not verify makes Open fail with
// ErrBroken, so the trail is never extended past damage unnoticed
// (SetAside moves such a file out of the way).
//
// Export gives one recording's entries with a chain proof — for every
// entry in between, only its sequence number and two digests — so that the
// entries can travel with the recording's metadata and be checked by
// VerifyExport without revealing other recordings' entries.
package audit
