// Package evidence uploads a room server's finished recordings (media.mp4,
// metadata.json and the recording's audit trail) to an S3-compatible
// evidence store, and decides, with the seed's upload preferences, when
// this server uploads and when it leaves the upload to the other server of
// the room.
//
// # Keys
//
// One place (keys.go) names every object, for the writer and for readers.
// With P the configured prefix, R the room ID (path-escaped) and I the
// recording ID, an upload's objects live in a folder F:
//
//	P R/I/claim.json            who started the first upload (written first, never replaced)
//	F media.mp4                 the recording
//	F metadata.json             wire.Metadata as the server wrote it
//	F audit.json                the recording's audit trail (audit.Export)
//	F complete.json             the completion marker, written LAST
//
// The first upload of a recording ID claims the primary folder F = "P R/I/"
// by creating claim.json with If-None-Match: * (a conditional put: of two
// servers that race, exactly one wins). The server named in the claim
// uploads, and resumes, in the primary folder. Any other server that the
// rules below send to upload the same recording uses its own folder
// F = "P R/I/<its server ID>/" and names the claim's owner in its marker
// (Supersedes). So the two servers never write the same key: their
// metadata and audit trails always differ (each names its own server), and
// a second upload exists precisely because the recordings may differ.
// Server IDs are recording-ID-shaped (no dots), so a server folder never
// clashes with an object name.
//
// Every object is written once: a stat first, then a put with
// If-None-Match: *. An object that is already there with the same SHA-256
// (kept in its user metadata, "sha256") and size counts as uploaded, so an
// interrupted upload is simply run again; one with other bytes is a
// conflict (ErrConflict) and is never overwritten. Uploads are verified
// object by object: every single put and every part carries its SHA-256
// (x-amz-checksum-sha256, checked by the store before it accepts the
// bytes), and after each object is complete its size, its "sha256" user
// metadata and the store's SHA-256 checksum (for a multipart object the
// checksum of the parts' checksums, "-N") are read back and compared with
// what was computed locally. SHA-256 is FIPS 140-3 approved.
//
// A folder holds a whole upload only when its complete.json exists: it
// lists each object's key, size and checksums and the uploader's server
// ID, and it is written after every object has been verified. Objects
// without a marker are a partial upload and never count. A multipart
// upload cut short is resumed: its parts already in the store are kept if
// their SHA-256 matches, and only the rest are sent.
//
// When a recording has more than one complete upload, ChooseEvidence picks
// the one that is the evidence: the one with the most media bytes; on a
// tie the primary folder's; then the earliest completed.
//
// With Object Lock retention configured, every object (claim and marker
// included) is written in compliance mode until now + RetentionDays: the
// store then refuses to delete or overwrite it ("WORM protected").
//
// # Queue
//
// Queue keeps one durable JSON file per recording (internal/durable) with
// its upload State, and uploads one recording at a time in the configured
// order (settings.Arrange). Before each attempt it asks the other server
// (Peer) and the store (claim and markers) how far the same recording ID
// got there (only a marker in the store makes the other server's upload
// finished, whatever its peer API says), and applies
// settings.Evidence.Decide through Decide: the preferred server
// uploads at once; the redundant one takes over after TakeoverAfter; either
// one uploads when the other started StalledAfter ago without finishing;
// the one that holds more than SecondUploadMargin bytes more uploads a
// second time. A failed attempt is retried with exponential backoff until
// RetryAttempts attempts have failed; the recording is then GivenUp until
// Retry. A conflict stops at once (Conflict): it needs a person. A
// recording left Uploading by a crash or shutdown is resumed on the next
// start and does not count as a failed attempt. Recheck makes a waiting
// recording due at once (the other server says it finished its upload);
// Settled is told each recording that reaches a final state, once, after
// it is durable (the server audits it).
package evidence
