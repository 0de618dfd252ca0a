// Package settings holds a room server's operator settings — the ones an
// administrator changes through the admin API, as opposed to the start-up
// configuration in server/config — and the seed's rule for comparing the
// settings of the two servers of a room.
//
// Settings travel as JSON. Decoding is strict: an unknown field, a value of
// the wrong type, an unknown enum value or a value out of range is refused,
// and the error (an *InvalidError wrapping ErrInvalid) names every offending
// field by its JSON path, such as "evidence.retry_attempts". Apply merges a
// partial document into the current settings and keeps them unchanged when
// anything in the change is wrong. Store keeps the settings in a file written
// durably (internal/durable) before a change is acknowledged.
//
// Compare classifies every difference between two servers' settings: Room
// ID, Device ID, Device URL and FIPS must match (blocking); paired-server
// settings, source settings and maintenance times may differ (ignored);
// everything else is a non-blocking mismatch. The class of each field is
// declared once, in a struct tag, and Fields lists them.
//
// Evidence.Decide and Arrange give the evidence-upload settings their
// meaning as pure functions, so the uploader and its tests share it.
package settings
