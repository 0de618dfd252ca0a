// Package server assembles a room server from one config.Config: the
// durable store, users and tickets, the settings (<data_dir>/settings.json)
// and the audit trail (<data_dir>/audit.log), the comparison of the
// settings with the paired server's (server/pair), the evidence upload
// (server/evidence, its queue in <data_dir>/evidence, rebuilt when the
// evidence or paired-server settings change; uploads.go), and the HTTPS
// API.
//
//	err = server.EnterFIPS(...) // settings that require FIPS 140-3 mode: re-execute in it
//	s, err := server.New(cfg, logger)
//	err = s.Listen()     // optional: bind now, e.g. "127.0.0.1:0" in tests
//	addr := s.Addr()     // the bound address
//	err = s.Run(ctx)     // serve until ctx ends, then shut down gracefully
package server
