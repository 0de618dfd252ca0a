// Package auth holds a room server's users and the login tickets.
//
// Passwords are stored as PBKDF2-HMAC-SHA256 hashes (FIPS 140-3 approved)
// with a 16-byte random salt, in a users file written durably. A ticket is
//
//	base64url(json{user, room, issued, expires, nonce}) "." base64url(HMAC-SHA256(roomkey, payload))
//
// Both servers of a room share the room key (32 random bytes in a file), so
// a ticket issued by either is valid on both: an operator who logged in on
// one server lets the box (re)start the recording on the other. Logout
// revokes the ticket's nonce on the server that received it only (kept in
// memory; lost on restart). Failed logins are limited per username and
// remote address.
//
// A user is an operator or an administrator (the users file's "admin"
// flag). Only administrators change settings and read the audit trail;
// a server asks its own users file at each request, so each server of the
// room decides for itself who administers it.
//
// The two servers read each other's settings with a peer token,
// "<server id>.<unix seconds>.<mac>", MAC'd with a key derived from the
// room key (so it is never mistaken for a ticket) and accepted for two
// minutes either side of its time. It grants nothing but that read.
package auth
