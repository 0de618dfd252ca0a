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
package auth
