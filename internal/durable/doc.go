// Package durable writes files so that once a call returns, the bytes and
// the name survive a power cut: write to a temporary file in the same
// folder, fsync it, rename it over the final name, fsync the folder.
//
// Temporary files start with TempPrefix so that a restart can find and
// remove what a crash left behind.
package durable
