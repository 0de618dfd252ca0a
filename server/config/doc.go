// Package config reads a room server's TOML configuration: defaults, then
// the file, then TWINCAP_SERVER_* environment variables, then Validate.
// Unknown keys and unknown enum values are refused. Relative paths in the
// file are relative to the file's folder, so a room folder made by
// "twincap-server init-room" works with a config file placed in it.
package config
