// Package config is the capture box's configuration: defaults, then a TOML
// file, then TWINCAP_BOX_* environment variables, then Validate. Unknown
// keys and unknown enum values are refused with a message naming them.
package config
