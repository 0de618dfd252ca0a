package evidencetest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Version is the MinIO release the tests run; scripts/minio pins the same
// (a test checks that they agree).
const Version = "v0.0.0-20260212201848-7aac2a2c5b7c"

// Environment variables.
const (
	// EnvBinary names a MinIO binary to use instead of the cached one.
	EnvBinary = "TWINCAP_MINIO"
	// EnvDir is the cache folder scripts/minio installs into (default
	// $XDG_CACHE_HOME/twincap or ~/.cache/twincap).
	EnvDir = "TWINCAP_MINIO_DIR"
	// EnvSkip set to 1 skips the tests that need MinIO, for a quick local
	// run only: with CI set it is refused.
	EnvSkip = "TWINCAP_SKIP_MINIO"
)

// ErrNoBinary: the pinned MinIO is not installed.
var ErrNoBinary = errors.New("evidencetest: MinIO not installed")

// Binary returns the path of the pinned MinIO binary: $TWINCAP_MINIO, or
// <cache>/minio-<Version>/minio as scripts/minio installs it.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if err := executable(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %w", ErrNoBinary, EnvBinary, p, err)
		}
		return p, nil
	}
	root := os.Getenv(EnvDir)
	if root == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("%w: no cache folder: %w", ErrNoBinary, err)
		}
		root = filepath.Join(c, "twincap")
	}
	p := filepath.Join(root, "minio-"+Version, "minio")
	if err := executable(p); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoBinary, err)
	}
	return p, nil
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

// Server is one running MinIO.
type Server struct {
	Endpoint  string // 127.0.0.1:port
	AccessKey string
	SecretKey string
	DataDir   string
	logPath   string
	// TLS, for a server started by StartTLS, trusts its certificate.
	TLS *tls.Config

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
}

// Start runs a MinIO server for the test and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, nil, nil, nil)
}

// StartTLS runs a MinIO server that serves https with the given
// certificate and key (PEM); roots trusts it (for TLS and Client).
func StartTLS(t testing.TB, certPEM, keyPEM []byte, roots *x509.CertPool) *Server {
	t.Helper()
	return start(t, certPEM, keyPEM, roots)
}

func start(t testing.TB, certPEM, keyPEM []byte, roots *x509.CertPool) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		msg := fmt.Sprintf("%v\nThis test needs the MinIO server %s. Build it once with scripts/minio "+
			"(5 to 15 minutes and 1.5 GB of memory, once: it is cached by version), or set %s to a MinIO binary.", err, Version, EnvBinary)
		if os.Getenv(EnvSkip) == "1" {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s\n%s=1 is for quick local runs and is refused when CI is set.", msg, EnvSkip)
			}
			t.Skipf("%s\nSkipped because %s=1 (never in CI).", msg, EnvSkip)
		}
		t.Fatalf("%s\n(For a quick local run without it, set %s=1.)", msg, EnvSkip)
	}
	dir := t.TempDir()
	s := &Server{AccessKey: "twincap-" + randHex(4), SecretKey: randHex(16), DataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "minio.log")}
	if certPEM != nil {
		certs := filepath.Join(dir, "certs")
		if err := os.MkdirAll(certs, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certs, "public.crt"), certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certs, "private.key"), keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		s.TLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	var lastErr error
	for range 3 { // a free port can be taken between our probe and MinIO's bind
		if lastErr = s.start(bin, dir); lastErr == nil {
			t.Cleanup(func() {
				if err := s.Stop(); err != nil {
					t.Errorf("evidencetest: stop MinIO: %v", err)
				}
			})
			return s
		}
	}
	t.Fatalf("evidencetest: start MinIO: %v\n%s", lastErr, s.Log())
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (s *Server) start(bin, dir string) error {
	addr, err := freePort()
	if err != nil {
		return err
	}
	console, err := freePort()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "server", "--address", addr, "--console-address", console,
		"--certs-dir", filepath.Join(dir, "certs"), "--quiet", s.DataDir)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir, // MinIO writes below HOME; keep it out of the user's
		"MINIO_ROOT_USER=" + s.AccessKey,
		"MINIO_ROOT_PASSWORD=" + s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig: if the test binary dies, MinIO goes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.Endpoint, s.cmd, s.exited = addr, cmd, exited
	s.mu.Unlock()
	if err := waitReady(addr, s.TLS, exited, 60*time.Second); err != nil {
		_ = s.Stop()
		return err
	}
	return nil
}

func waitReady(addr string, tc *tls.Config, exited <-chan struct{}, limit time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	scheme := "http://"
	if tc != nil {
		scheme = "https://"
		client.Transport = &http.Transport{TLSClientConfig: tc}
	}
	deadline := time.Now().Add(limit)
	var lastErr error
	for {
		select {
		case <-exited:
			return errors.New("MinIO exited before it was ready")
		default:
		}
		// ready: the process serves; cluster: the object layer is up (on
		// a restart with data, ready comes first and S3 calls still fail
		// with "Server not initialized yet").
		ok := true
		for _, path := range []string{"/minio/health/ready", "/minio/health/cluster"} {
			resp, err := client.Get(scheme + addr + path)
			if err != nil {
				ok, lastErr = false, err
				break
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				ok, lastErr = false, fmt.Errorf("%s: %s", path, resp.Status)
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("MinIO on %s not ready after %v (last: %v)", addr, limit, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PID is the MinIO process's ID, 0 once stopped.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Stop ends MinIO by its PID: SIGTERM, then SIGKILL after 10 seconds.
// Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	pid := cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(10 * time.Second):
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill -9 %d: %w", pid, err)
	}
	<-exited
	return nil
}

// Restart starts MinIO again on the same data folder (after Stop), on a
// new port: Endpoint changes.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.start(bin, filepath.Dir(s.DataDir)); err != nil {
		t.Fatalf("evidencetest: restart MinIO: %v\n%s", err, s.Log())
	}
}

// Log returns the end of MinIO's output, for failure messages.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.logPath)
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return strings.TrimSpace(string(b))
}

// Client returns a minio-go client for the server's root user.
func (s *Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	opts := &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")}
	if s.TLS != nil {
		opts.Secure, opts.Transport = true, &http.Transport{TLSClientConfig: s.TLS}
	}
	c, err := minio.New(s.Endpoint, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// MakeBucket creates a bucket, with Object Lock (and so versioning) when
// objectLock is true.
func (s *Server) MakeBucket(t testing.TB, name string, objectLock bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Client(t).MakeBucket(ctx, name, minio.MakeBucketOptions{ObjectLocking: objectLock}); err != nil {
		t.Fatalf("evidencetest: make bucket %s: %v", name, err)
	}
}
