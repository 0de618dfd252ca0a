// Package httpapi is the room server's HTTP interface: the routes of
// package wire on a Go 1.22 ServeMux, JSON in and out, every error as a
// wire.Error with a status code the box can act on:
//
//	400 bad input (ID, seq, checksum header, JSON, unknown fields)
//	401 no ticket, or a bad, expired or revoked one; wrong login
//	404 no such recording
//	409 conflict: other bytes for a held segment, finalized, incomplete
//	    stop (the body is then also a wire.RecordingState with Missing)
//	413 body larger than segment.MaxSize (segments) or 64 KiB (JSON)
//	422 segment bytes do not match the checksum header
//	429 too many failed logins (Retry-After says when to try again)
//
// Only health and login work without a ticket. A path-like recording ID is
// refused with 400 before routing, so ServeMux never cleans or redirects it.
package httpapi
