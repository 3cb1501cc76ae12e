// Command tinykv-ctl reads and writes a TinyKV cluster and shows its
// state: raw and transactional reads and writes through the client library
// (kv/client), and the scheduler's view of stores, regions and operators.
//
//	tinykv-ctl put greeting hello
//	tinykv-ctl get greeting
//	tinykv-ctl regions
//
// Run it with -h for every command.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, connect))
}
