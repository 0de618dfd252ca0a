// Package pki makes the certificates of a demo or test room: a room CA and
// server certificates it signs (ECDSA P-256 and SHA-256, FIPS 140-3
// approved). The box trusts the room CA file (ca.pem); each server presents
// a certificate for its addresses. Production rooms may use their own CA.
package pki
