// Command tinykv-server runs one TinyKV store: the TinyKv gRPC service over
// the raft store, as one member of a cluster that a scheduler coordinates
// (the default), or over the standalone storage of project 1 (-standalone).
//
//	tinykv-server -addr 127.0.0.1:20160 -path ./data -scheduler 127.0.0.1:2379
//	tinykv-server -standalone -addr 127.0.0.1:20160 -path ./data
//
// A store that starts before its scheduler waits for it. SIGINT or SIGTERM
// stops it cleanly: requests in flight are answered, the raft store stops,
// then the storage is closed, so every acknowledged write is on disk.
// doc/cluster.md describes the flags and the config file.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tinykv-lab/tinykv/log"
)

// Exit codes of tinykv-server.
const (
	exitOK      = 0
	exitFailure = 1 // the server could not start, or failed while running
	exitUsage   = 2 // bad flags (the code the flag package uses too)
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run parses args, validates them and serves until a signal arrives. It
// returns the exit code; messages for the user go to stderr.
func run(args []string, stderr io.Writer) int {
	conf, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "tinykv-server: %v\nRun 'tinykv-server -h' for the flags.\n", err)
		return exitUsage
	}
	level, _ := log.ParseLevel(conf.LogLevel) // checked by parseFlags
	log.SetLevel(level)
	if err := serve(conf); err != nil {
		fmt.Fprintf(stderr, "tinykv-server: %v\n", err)
		return exitFailure
	}
	return exitOK
}
