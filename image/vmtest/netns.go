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

// DialContext dials addr from inside the namespace: the socket is made on
// an OS thread moved into it. That thread is never handed back to the Go
// scheduler (the goroutine ends locked), so no other code runs in the
// namespace by accident.
func (n *Netns) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if _, _, errno := syscall.RawSyscall(sysSetns, n.f.Fd(), syscall.CLONE_NEWNET, 0); errno != 0 {
			ch <- result{err: fmt.Errorf("vmtest: setns %s: %w", n.Name, errno)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
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
