// Package httpapi is the room server's HTTP interface: the routes of
// package wire on a Go 1.22 ServeMux, JSON in and out, every error as a
// wire.Error with a status code the box can act on:
//
//	400 bad input (ID, seq, checksum header, JSON, unknown fields); a
//	    refused settings change is a wire.SettingsError naming every
//	    offending field, and the settings stay as they were
//	401 no ticket, or a bad, expired or revoked one; wrong login
//	403 an operator on an administrators' route
//	404 no such recording
//	409 conflict: other bytes for a held segment, finalized, incomplete
//	    stop (the body is then also a wire.RecordingState with Missing)
//	413 body larger than segment.MaxSize (segments) or 64 KiB (JSON)
//	422 segment bytes do not match the checksum header
//	429 too many failed logins (Retry-After says when to try again)
//
// Only health and login work without a ticket; the paired server reads
// the settings with a peer token (server/auth) instead. Changing the
// settings and reading or verifying the audit trail need an administrator
// (the users file's admin flag on this server). A path-like recording ID
// is refused with 400 before routing, so ServeMux never cleans or
// redirects it.
//
// What the audit trail records is acknowledged only once it is durable
// there: a login's ticket, a started recording, a stop (with the
// recording's audit.json written beside its media), a settings change
// (put back if it cannot be audited), a logout. A retried create or stop
// finishes what a failed one left, and adds no second entry.
package httpapi
