// Package wire is the HTTP/JSON contract between the capture box and a room
// server: routes, headers, request and reply bodies, and the error shape.
// Both sides import it; neither copies it.
package wire
