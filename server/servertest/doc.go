// Package servertest starts real room servers in-process for tests: a room
// with its own CA, room key and one user, and one or two servers serving
// HTTPS on ephemeral loopback ports. Servers can be stopped and restarted
// on the same address with the same data, as after a reboot.
package servertest
