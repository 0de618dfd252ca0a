package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"twincap/firmware/box"
	"twincap/firmware/roomclient"
	"twincap/server/wire"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds the room's commands once per test binary.
func binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "twincap-e2e-bin-")
		if buildErr != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		cmd := exec.Command("go", "build", "-o", binDir+"/",
			"./firmware/cmd/twincap-box", "./firmware/cmd/twincapctl", "./server/cmd/twincap-server")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func requireTool(t testing.TB, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not found on PATH: install it (apt-get install %s, or ./scripts/setup)", name, pkg)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a process this test started; it is ended by its PID only.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func start(t testing.TB, dir, name string, args ...string) *proc {
	t.Helper()
	return startEnv(t, dir, name, nil, args...)
}

// startEnv starts a process with env added to ours.
func startEnv(t testing.TB, dir, name string, env []string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

// kill sends SIGKILL to the process we started and waits for it.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// term sends SIGTERM and waits up to d.
func (p *proc) term(d time.Duration) bool {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		p.kill()
		return false
	}
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func run(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// room is two servers and a box.
type room struct {
	t        testing.TB
	dir, bin string
	servers  []*server
	box      *proc
	boxCfg   string
	control  string
	tls      *tls.Config
}

type server struct {
	name, addr, cfg, data string
	p                     *proc
}

type roomOptions struct {
	mode     wire.Mode
	fallback string
	window   string
	servers  int    // 1 or 2 (default 2)
	video    string // the box's [video] table; default 320x240 at 15 fps
	chunk    string // the box's chunk_duration; "": its default (200 ms)
}

const smallVideo = `width = 320
height = 240
fps = 15
bitrate = 300000
preset = "ultrafast"
`

const (
	testUser     = "operator"
	testPassword = "correct horse battery staple"
)

func newRoom(t testing.TB, o roomOptions) *room {
	t.Helper()
	requireTool(t, "ffprobe", "ffmpeg")
	r := &room{t: t, dir: t.TempDir(), bin: binaries(t)}
	srvBin := filepath.Join(r.bin, "twincap-server")
	roomDir := filepath.Join(r.dir, "room")
	run(t, "", srvBin, "init-room", "-out", roomDir, "-hosts", "127.0.0.1,localhost")

	if o.servers == 0 {
		o.servers = 2
	}
	if o.video == "" {
		o.video = smallVideo
	}
	if o.mode == "" {
		o.mode = wire.Buffered
	}
	if o.fallback == "" {
		o.fallback = "any"
	}
	for _, name := range []string{"preferred", "redundant"}[:o.servers] {
		s := &server{name: name, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), data: filepath.Join(r.dir, name)}
		s.cfg = filepath.Join(r.dir, name+".toml")
		writeServerConfig(t, s, roomDir)
		run(t, testPassword+"\n", srvBin, "useradd", "-config", s.cfg, "-user", testUser)
		r.servers = append(r.servers, s)
	}
	pem, err := os.ReadFile(filepath.Join(roomDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	r.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	r.control = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	r.boxCfg = filepath.Join(r.dir, "box.toml")
	window := o.window
	if window == "" {
		window = "10s"
	}
	boxToml := fmt.Sprintf(`box_id = "box-e2e"
room_id = "room-e2e"
ca_file = %q
fallback = %q
mode = %q
window = %q
journal_dir = %q
control = %q
segment_duration = "1s"
lost_grace = "30s"
[preferred]
addr = %q
[video]
%s`, filepath.Join(roomDir, "ca.pem"), o.fallback, o.mode, window, filepath.Join(r.dir, "journal"), r.control,
		r.servers[0].addr, o.video)
	if o.servers == 2 {
		boxToml += fmt.Sprintf("[redundant]\naddr = %q\n", r.servers[1].addr)
	}
	if o.chunk != "" {
		boxToml = fmt.Sprintf("chunk_duration = %q\n", o.chunk) + boxToml
	}
	if err := os.WriteFile(r.boxCfg, []byte(boxToml), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range r.servers {
		r.startServer(s)
	}
	r.box = start(t, r.dir, "box", filepath.Join(r.bin, "twincap-box"), "-config", r.boxCfg)
	r.waitFor("the box's control API", 20*time.Second, func() bool {
		_, err := r.status()
		return err == nil
	})
	return r
}

func (r *room) startServer(s *server) {
	r.t.Helper()
	s.p = start(r.t, r.dir, "server-"+s.name, filepath.Join(r.bin, "twincap-server"), "serve", "-config", s.cfg)
	c := r.client(s, "")
	r.waitFor(s.name+" server health", 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := c.Health(ctx)
		return err == nil
	})
}

func (r *room) client(s *server, ticket string) *roomclient.Client {
	c, err := roomclient.New(s.addr, r.tls)
	if err != nil {
		r.t.Fatal(err)
	}
	return c.WithTicket(ticket)
}

func (r *room) waitFor(what string, d time.Duration, ok func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatal(fmt.Sprintf("timed out after %s waiting for %s", d, what) + r.logs())
}

// logs is the box's status and the tails of every log, for a failure
// message.
func (r *room) logs() string {
	msg := ""
	if st, err := r.status(); err == nil {
		b, _ := json.MarshalIndent(st, "", "  ")
		msg += "\nbox status: " + string(b)
	}
	if r.box != nil {
		msg += "\nbox log tail:\n" + r.box.tail()
	}
	for _, s := range r.servers {
		if s.p != nil {
			msg += "\n" + s.name + " log tail:\n" + s.p.tail()
		}
	}
	return msg
}

func (r *room) call(method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+r.control+path, body)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(data, out)
	}
	return resp.StatusCode, nil
}

func (r *room) status() (box.Status, error) {
	var st box.Status
	_, err := r.call(http.MethodGet, box.PathStatus, nil, &st)
	return st, err
}

func (r *room) mustStatus() box.Status {
	r.t.Helper()
	st, err := r.status()
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

// readyAndLoggedIn waits for two green icons, then logs the operator in.
func (r *room) readyAndLoggedIn() {
	r.t.Helper()
	r.waitFor("two green icons", 20*time.Second, func() bool { return r.mustStatus().FailoverReady })
	r.login()
}

func (r *room) login() {
	r.t.Helper()
	if _, err := r.call(http.MethodPost, box.PathLogin, box.LoginRequest{Username: testUser, Password: testPassword}, nil); err != nil {
		r.t.Fatal(err)
	}
}

func (r *room) action(path string) string {
	r.t.Helper()
	var rep box.ActionReply
	if _, err := r.call(http.MethodPost, path, nil, &rep); err != nil {
		r.t.Fatal(err.Error() + r.logs())
	}
	return rep.RecordingID
}

// serverState is the box's view of one server.
func (r *room) serverState(name string) string {
	st, err := r.status()
	if err != nil {
		return ""
	}
	for _, s := range st.Servers {
		if s.Name == name {
			return s.State
		}
	}
	return ""
}

func (r *room) recordingFiles(s *server, id string) (media []byte, meta wire.Metadata) {
	r.t.Helper()
	c := r.client(s, r.ticket())
	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Media(ctx, id, &buf); err != nil {
		r.t.Fatalf("%s: media of %s: %v", s.name, id, err)
	}
	m, err := c.Metadata(ctx, id)
	if err != nil {
		r.t.Fatalf("%s: metadata of %s: %v", s.name, id, err)
	}
	return buf.Bytes(), m
}

func (r *room) ticket() string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rep, err := r.client(r.servers[0], "").Login(ctx, testUser, testPassword)
	if err != nil {
		rep, err = r.client(r.servers[1], "").Login(ctx, testUser, testPassword)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	return rep.Ticket
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// probe is what ffprobe says of a file.
type probe struct {
	Duration    float64
	VideoCodec  string
	Width       int
	Height      int
	AudioCodec  string
	VideoPTS    []float64 // seconds, in presentation order
	FrameStep   float64   // the nominal frame duration
	DecodeError string
}

func ffprobe(t testing.TB, path string) probe {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var info struct {
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
		Streams []struct {
			CodecType    string `json:"codec_type"`
			CodecName    string `json:"codec_name"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			RFrameRate   string `json:"r_frame_rate"`
			AvgFrameRate string `json:"avg_frame_rate"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	var p probe
	p.Duration, _ = strconv.ParseFloat(info.Format.Duration, 64)
	for _, s := range info.Streams {
		switch s.CodecType {
		case "video":
			p.VideoCodec, p.Width, p.Height = s.CodecName, s.Width, s.Height
			if n, d, ok := strings.Cut(s.RFrameRate, "/"); ok {
				num, _ := strconv.ParseFloat(n, 64)
				den, _ := strconv.ParseFloat(d, 64)
				if num > 0 {
					p.FrameStep = den / num
				}
			}
		case "audio":
			p.AudioCodec = s.CodecName
		}
	}
	pk, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets %s: %v", path, err)
	}
	for _, line := range strings.Fields(string(pk)) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(line, ","), 64)
		if err == nil {
			p.VideoPTS = append(p.VideoPTS, v)
		}
	}
	dec, _ := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	p.DecodeError = strings.TrimSpace(string(dec))
	return p
}

// maxGap is the largest step between consecutive video frames.
func (p probe) maxGap() float64 {
	g := 0.0
	for i := 1; i < len(p.VideoPTS); i++ {
		g = max(g, p.VideoPTS[i]-p.VideoPTS[i-1])
	}
	return g
}

// writeServerConfig writes a server's TOML; the room's key, certificate
// and CA come from init-room.
func writeServerConfig(t testing.TB, s *server, roomDir string) {
	t.Helper()
	doc := fmt.Sprintf(`listen = %q
data_dir = %q
server_id = %q
room_id = "room-e2e"
room_key_file = %q
tls_cert_file = %q
tls_key_file = %q
`, s.addr, s.data, s.name, filepath.Join(roomDir, "room.key"), filepath.Join(roomDir, "server.pem"), filepath.Join(roomDir, "server.key"))
	if err := os.WriteFile(s.cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

// journals lists the interview journals left on the box (folders; the
// operator's session file beside them does not count).
func (r *room) journals() []string {
	entries, _ := os.ReadDir(filepath.Join(r.dir, "journal"))
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	return dirs
}
