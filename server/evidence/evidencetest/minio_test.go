package evidencetest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// TestScriptPinsSameVersion: scripts/minio installs the version Binary
// looks for.
func TestScriptPinsSameVersion(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "scripts", "minio"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^version=(\S+)$`).FindSubmatch(b)
	if m == nil || string(m[1]) != Version {
		t.Fatalf("scripts/minio pins %q; evidencetest.Version is %q", m, Version)
	}
	if !strings.Contains(string(b), `minio-$version`) {
		t.Fatal("scripts/minio no longer installs into minio-<version>, where Binary looks")
	}
}

func TestBinaryMissing(t *testing.T) {
	t.Setenv(EnvBinary, "")
	t.Setenv(EnvDir, t.TempDir())
	if _, err := Binary(); !errors.Is(err, ErrNoBinary) {
		t.Fatalf("Binary in an empty cache: %v; want ErrNoBinary", err)
	}
	t.Setenv(EnvBinary, filepath.Join(t.TempDir(), "minio"))
	if _, err := Binary(); !errors.Is(err, ErrNoBinary) {
		t.Fatalf("Binary with %s pointing nowhere: %v; want ErrNoBinary", EnvBinary, err)
	}
}

// TestStartStop: a server answers on loopback, and Stop ends its process.
func TestStartStop(t *testing.T) {
	s := Start(t)
	if !strings.HasPrefix(s.Endpoint, "127.0.0.1:") {
		t.Fatalf("endpoint %s is not on loopback", s.Endpoint)
	}
	s.MakeBucket(t, "probe", true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if ok, err := s.Client(t).BucketExists(ctx, "probe"); err != nil || !ok {
		t.Fatalf("BucketExists = %v, %v", ok, err)
	}
	if _, err := s.Client(t).PutObject(ctx, "probe", "k", strings.NewReader("v"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Restart(t) // same data, new port
	if _, err := s.Client(t).StatObject(ctx, "probe", "k", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("object lost over a restart: %v", err)
	}
	pid := s.PID()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("MinIO (pid %d) still there after Stop: %v", pid, err)
	}
	if s.PID() != 0 || s.Stop() != nil {
		t.Fatal("a second Stop should do nothing")
	}
}

func TestClock(t *testing.T) {
	c := NewClock(time.Unix(0, 0))
	now := c.After(0)
	later := c.After(time.Minute)
	select {
	case <-now:
	default:
		t.Fatal("After(0) did not fire at once")
	}
	c.Advance(59 * time.Second)
	select {
	case <-later:
		t.Fatal("fired early")
	default:
	}
	c.Advance(time.Second)
	select {
	case at := <-later:
		if !at.Equal(time.Unix(60, 0)) {
			t.Fatalf("fired at %v", at)
		}
	default:
		t.Fatal("did not fire")
	}
	if c.Waiters() != 0 {
		t.Fatal("fired timer still waiting")
	}
}
