//go:build linux

package vmtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"twincap/server/wire"
)

// What the box sees of the room, as QEMU's user networking maps it: the
// guest reaches the namespace's loopback as 10.0.2.2 on the preferred
// server's NIC and as 10.0.3.2 on the redundant one's. image/build writes
// the same addresses into the image's box.toml.
const (
	RoomID       = "room" // as in the image's box.toml
	User         = "operator"
	Password     = "vm operator password"
	PreferredVia = "10.0.2.2:8443"
	RedundantVia = "10.0.3.2:8444"
)

// Server is one room server, run inside the namespace on its loopback.
type Server struct {
	Name   string
	Listen string // inside the namespace
	Data   string
	Config string
	proc   *Proc
}

// Room is the two room servers of a scenario, with their room files.
type Room struct {
	Dir     string // the scenario's artifacts
	RoomDir string // init-room's output: ca.pem, server.pem, server.key, room.key
	Servers []*Server
	bin     string
	ns      *Netns
}

// NewRoom makes the room's files (a certificate valid for the addresses
// the box dials) and both servers' configs and users; Start runs them.
func NewRoom(dir, serverBin string, ns *Netns) (*Room, error) {
	r := &Room{Dir: dir, RoomDir: filepath.Join(dir, "room"), bin: serverBin, ns: ns}
	hosts := []string{"10.0.2.2", "10.0.3.2", "127.0.0.1", "localhost"}
	if out, err := exec.Command(serverBin, "init-room", "-out", r.RoomDir, "-hosts", strings.Join(hosts, ",")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("vmtest: init-room: %v: %s", err, out)
	}
	for _, s := range []*Server{
		{Name: "preferred", Listen: "127.0.0.1:8443"},
		{Name: "redundant", Listen: "127.0.0.1:8444"},
	} {
		s.Data = filepath.Join(dir, s.Name)
		s.Config = filepath.Join(dir, s.Name+".toml")
		doc := fmt.Sprintf("listen = %q\ndata_dir = %q\nserver_id = %q\nroom_id = %q\nroom_key_file = %q\ntls_cert_file = %q\ntls_key_file = %q\n",
			s.Listen, s.Data, s.Name, RoomID, filepath.Join(r.RoomDir, "room.key"),
			filepath.Join(r.RoomDir, "server.pem"), filepath.Join(r.RoomDir, "server.key"))
		if err := os.WriteFile(s.Config, []byte(doc), 0o644); err != nil {
			return nil, fmt.Errorf("vmtest: %w", err)
		}
		cmd := exec.Command(serverBin, "useradd", "-config", s.Config, "-user", User)
		cmd.Stdin = strings.NewReader(Password + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("vmtest: useradd on %s: %v: %s", s.Name, err, out)
		}
		r.Servers = append(r.Servers, s)
	}
	return r, nil
}

// CAFile is the room CA the box must trust.
func (r *Room) CAFile() string { return filepath.Join(r.RoomDir, "ca.pem") }

// Server is the server called name.
func (r *Room) Server(name string) *Server {
	for _, s := range r.Servers {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Start runs server s in the namespace and waits until it accepts
// connections.
func (r *Room) Start(ctx context.Context, s *Server) error {
	p, err := StartProc("server-"+s.Name, r.ns.Command(r.bin, "serve", "-config", s.Config), filepath.Join(r.Dir, "server-"+s.Name+".log"))
	if err != nil {
		return err
	}
	s.proc = p
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := r.ns.DialContext(dctx, "tcp", s.Listen)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("vmtest: server %s exited: %s", s.Name, p.Tail(2000))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("vmtest: server %s did not listen on %s: %w", s.Name, s.Listen, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// StartAll starts every server.
func (r *Room) StartAll(ctx context.Context) error {
	for _, s := range r.Servers {
		if err := r.Start(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// Kill ends server s with SIGKILL (a crash).
func (r *Room) Kill(s *Server) {
	if s.proc != nil {
		s.proc.Kill()
	}
}

// StopAll ends every server gracefully.
func (r *Room) StopAll() {
	for _, s := range r.Servers {
		if s.proc != nil {
			s.proc.Stop(10 * time.Second)
		}
	}
}

// Logs is the tail of every server's log.
func (r *Room) Logs() string {
	var b strings.Builder
	for _, s := range r.Servers {
		if s.proc != nil {
			fmt.Fprintf(&b, "\n--- %s log tail ---\n%s", s.Name, s.proc.Tail(3000))
		}
	}
	return b.String()
}

// Recording is one recording as a server holds it on disk.
type Recording struct {
	Dir   string
	Media string // media.mp4, once finalized
	Meta  wire.Metadata
}

// ErrNotFinal means the server does not hold the recording finalized (yet).
var ErrNotFinal = errors.New("vmtest: recording not finalized")

// Finalized reads recording id from server s's data folder; it wraps
// ErrNotFinal until the server has finalized it.
func (s *Server) Finalized(id string) (Recording, error) {
	dir := filepath.Join(s.Data, "recordings", id)
	var st struct {
		State wire.RecState `json:"state"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "recording.json"))
	if err != nil {
		return Recording{}, fmt.Errorf("%w: %s on %s: %v", ErrNotFinal, id, s.Name, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return Recording{}, fmt.Errorf("vmtest: %s recording.json: %w", s.Name, err)
	}
	if st.State != wire.StateFinalized {
		return Recording{}, fmt.Errorf("%w: %s on %s is %s", ErrNotFinal, id, s.Name, st.State)
	}
	rec := Recording{Dir: dir, Media: filepath.Join(dir, "media.mp4")}
	if b, err = os.ReadFile(filepath.Join(dir, "metadata.json")); err != nil {
		return Recording{}, fmt.Errorf("vmtest: %s metadata: %w", s.Name, err)
	}
	if err := json.Unmarshal(b, &rec.Meta); err != nil {
		return Recording{}, fmt.Errorf("vmtest: %s metadata: %w", s.Name, err)
	}
	return rec, nil
}

// UpdateAudit is the details of every update entry in server s's audit
// trail (<data_dir>/audit.log, one JSON entry a line), in order: what the
// box reported of its updates, as "report ID: EVENT; running R; version
// V; ...".
func (s *Server) UpdateAudit() ([]string, error) {
	b, err := os.ReadFile(filepath.Join(s.Data, "audit.log"))
	if err != nil {
		return nil, fmt.Errorf("vmtest: %s audit.log: %w", s.Name, err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		var e struct {
			Action  string `json:"action"`
			Details string `json:"details"`
		}
		if line == "" || json.Unmarshal([]byte(line), &e) != nil || e.Action != "update" {
			continue // a torn last line is the server's to cut
		}
		out = append(out, e.Details)
	}
	return out, nil
}
