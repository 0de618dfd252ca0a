// Package server assembles a room server: the durable store, users and
// tickets, and the HTTPS API, from one config.Config.
//
//	s, err := server.New(cfg, logger)
//	err = s.Listen()     // optional: bind now, e.g. "127.0.0.1:0" in tests
//	addr := s.Addr()     // the bound address
//	err = s.Run(ctx)     // serve until ctx ends, then shut down gracefully
package server
