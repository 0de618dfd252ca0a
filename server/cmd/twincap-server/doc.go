// Command twincap-server is the room server: serve (HTTPS API), useradd
// and passwd (users file), init-room (demo CA, certificate and room key),
// help. Run "twincap-server help".
package main
