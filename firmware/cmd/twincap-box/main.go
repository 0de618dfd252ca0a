// Command twincap-box is the capture box daemon: it records the interview
// and writes it to the room's servers in lockstep. See package box.
package main

import (
	"context"
	"crypto/fips140"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"twincap/drivers/audio"
	"twincap/drivers/audio/alsa"
	"twincap/drivers/audio/tone"
	"twincap/drivers/camera"
	"twincap/drivers/camera/reconnect"
	"twincap/drivers/camera/testpattern"
	"twincap/drivers/camera/v4l2"
	"twincap/firmware/box"
	"twincap/firmware/config"
	"twincap/firmware/updater"
	"twincap/server/fipsmode"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "twincap-box:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("twincap-box", flag.ContinueOnError)
	path := fs.String("config", "", "box configuration `file` (TOML); TWINCAP_BOX_* variables override it")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: twincap-box -config box.toml\n\n"+
			"Records the interview from the camera (or a test pattern) and writes it to both room\n"+
			"servers in lockstep. The control API listens on the config's 'control' address;\n"+
			"use twincapctl to log in, start, stop and cancel.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	cfg, err := config.Load(*path, nil)
	if err != nil {
		return err
	}
	// FIPS 140-3 mode: Go enters it only at start, so re-execute in it.
	if err := fipsmode.Enter(cfg.FIPS, fips140.Enabled(), os.Environ(), func(env []string) error {
		fmt.Fprintln(os.Stderr, "twincap-box: the config asks for FIPS 140-3 mode; re-executing with GODEBUG=fips140=on")
		return fipsmode.Exec(env)
	}); err != nil {
		return err
	}
	tlsConf, err := roomTLS(cfg.CAFile)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	h, progress, err := health(cfg)
	if err != nil {
		return err
	}
	deps := box.Deps{
		OpenCamera:     openCamera,
		OpenMicrophone: openMicrophone,
		TLS:            tlsConf,
		Log:            log,
		Progress:       progress,
	}
	// The update agent (update.source set) is made once the box is,
	// before either runs.
	var agent *updater.Agent
	if cfg.Update.Enabled() {
		const off = "the update agent could not start (see the daemon's log)"
		deps.Update = func() updater.Status {
			if agent == nil {
				return updater.Status{State: "off", Reason: off}
			}
			return agent.Status()
		}
		// A bundle a technician uploads (twincapctl update FILE).
		deps.LocalUpdate = func(ctx context.Context, path string) error {
			if agent == nil {
				return errors.New(off + ", so nothing can be installed")
			}
			return agent.Local(ctx, path)
		}
	}
	b, err := box.New(cfg, deps)
	if err != nil {
		return err
	}
	if cfg.Update.Enabled() {
		// Recording matters more than updates: a box whose agent cannot
		// start still records, and says why in its log and status.
		if agent, err = newAgent(cfg, b, log); err != nil {
			log.Error("remote updates are off", "err", err)
		}
	}
	lights, err := ledEngine(cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Control)
	if err != nil {
		return fmt.Errorf("control API: %w", err)
	}
	dog, notify, err := petter(cfg, h, log)
	if err != nil {
		ln.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// The watchdog and the LEDs outlive the interview loop: they go on
	// through the shutdown drain and stop only once the box has.
	after, stopAfter := context.WithCancel(context.Background())
	defer stopAfter()
	var side errgroup.Group
	side.Go(func() error { return dog.Run(after) })
	if lights != nil {
		side.Go(func() error { return lights.Run(after) })
		side.Go(func() error { showStatus(after, lights, b, log); return nil })
	}

	srv := &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 5 * time.Second}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return b.Run(gctx) })
	if agent != nil {
		g.Go(func() error { return runAgent(gctx, agent, b) })
	}
	g.Go(func() error {
		log.Info("control API listening", "addr", "http://"+ln.Addr().String())
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		select {
		case <-b.Ready():
			if err := notify.Ready(); err != nil {
				log.Warn("sd_notify READY", "err", err)
			}
			_ = notify.Status("ready")
		case <-gctx.Done():
		}
		<-gctx.Done()
		_ = notify.Stopping()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	err = g.Wait()
	stopAfter()
	if serr := side.Wait(); serr != nil {
		log.Warn("watchdog or LEDs", "err", serr)
	}
	if err != nil {
		// Not an orderly stop: the hardware watchdog stays armed, so a box
		// that does not come back is reset.
		return err
	}
	return dog.Stop()
}

func roomTLS(caFile string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return conf, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", caFile)
	}
	conf.RootCAs = pool
	return conf, nil
}

// openCamera opens the configured source: the test pattern, or a V4L2
// device kept open through unplugs (the interview goes on with a "camera
// lost" card and resumes when the camera returns). The first open is done
// here, so a wrong device or format refuses the start with what the
// device offers.
func openCamera(cfg config.Config) (camera.Camera, error) {
	f := camera.Format{Width: cfg.Video.Width, Height: cfg.Video.Height, FPS: cfg.Video.FPS}
	if cfg.Camera == "testpattern" {
		return testpattern.New(testpattern.Config{Width: f.Width, Height: f.Height, FPS: f.FPS, Paced: true, Stamp: true})
	}
	opt := v4l2.Options{Input: cfg.CameraInput}
	first, err := v4l2.Open(cfg.Camera, f, opt)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return reconnect.New(reconnect.Config{
		Format: f,
		Open: func(context.Context) (camera.Camera, error) {
			var c camera.Camera
			once.Do(func() { c = first })
			if c != nil {
				return c, nil
			}
			return v4l2.Open(cfg.Camera, f, opt)
		},
	})
}

// openMicrophone opens the tone or an ALSA capture device (48 kHz mono).
func openMicrophone(cfg config.Config) (audio.Microphone, error) {
	if cfg.Microphone == "tone" {
		return tone.New(tone.Config{Paced: true})
	}
	return alsa.Open(alsa.Config{Device: cfg.Microphone, Format: audio.Format{SampleRate: 48000, Channels: 1}})
}
