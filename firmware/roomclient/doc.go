// Package roomclient speaks the box-to-server contract of server/wire over
// HTTPS: one Client per room server. It is used by the uplink, by the box's
// login, and by tests and tools that inspect a server.
package roomclient
