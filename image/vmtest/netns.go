//go:build linux

package vmtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
)

// Netns is a network namespace made for one scenario, with only its
// loopback up: the servers, QEMU and QEMU's user networking live in it, so
// nothing the test starts can reach or be reached from anything else.
type Netns struct {
	Name string
	f    *os.File
}

// NewNetns creates the namespace name and brings its loopback up.
func NewNetns(name string) (*Netns, error) {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("vmtest: ip netns add %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	n := &Netns{Name: name}
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		n.Close()
		return nil, fmt.Errorf("vmtest: netns %s: lo up: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("vmtest: netns %s: %w", name, err)
	}
	n.f = f
	return n, nil
}

// Command is name run inside the namespace (ip netns exec execs it, so the
// process's PID is the command's own).
func (n *Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// inside runs f on an OS thread moved into the namespace. That thread is
// never handed back to the Go scheduler (the goroutine ends locked), so no
// other code runs in the namespace by accident; sockets f makes stay in it.
func (n *Netns) inside(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if _, _, errno := syscall.RawSyscall(sysSetns, n.f.Fd(), syscall.CLONE_NEWNET, 0); errno != 0 {
			done <- fmt.Errorf("vmtest: setns %s: %w", n.Name, errno)
			return
		}
		done <- f()
	}()
	return <-done
}

// DialContext dials addr from inside the namespace.
func (n *Netns) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.inside(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen listens on addr inside the namespace.
func (n *Netns) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := n.inside(func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// Close deletes the namespace. Every process started in it must have
// ended first.
func (n *Netns) Close() error {
	if n.f != nil {
		n.f.Close()
	}
	if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("vmtest: ip netns del %s: %v: %s", n.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
