package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tinykv-lab/tinykv/kv/config"
)

// parseFlags turns the command line into a validated configuration. The
// flag names are TinyKV's, so its documents and scripts work unchanged.
// Usage goes to out when asked for with -h (the error is then flag.ErrHelp).
func parseFlags(args []string, out io.Writer) (*config.Config, error) {
	conf := config.NewDefaultConfig()
	if env := os.Getenv("LOG_LEVEL"); env != "" {
		conf.LogLevel = env
	}
	standalone := true

	fs := flag.NewFlagSet("tinykv-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints the error once, in its own words
	fs.StringVar(&conf.StoreAddr, "addr", conf.StoreAddr, "address to listen on, host:port")
	fs.StringVar(&conf.DBPath, "path", conf.DBPath, "data directory, created if missing")
	fs.StringVar(&conf.SchedulerAddr, "scheduler", conf.SchedulerAddr, "scheduler address, host:port (raft mode)")
	fs.StringVar(&conf.LogLevel, "loglevel", conf.LogLevel, "log level: debug, info, warn, error or fatal (LOG_LEVEL sets the default)")
	fs.BoolVar(&standalone, "standalone", standalone, "serve from local storage only (project 1); false runs the raft store")
	fs.Usage = func() {} // the flag package calls it on every error; usage is printed for -h only

	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			printUsage(fs, out)
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: tinykv-server takes flags only", fs.Arg(0))
	}
	conf.Raft = !standalone
	if err := conf.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %v", err)
	}
	return conf, nil
}

func printUsage(fs *flag.FlagSet, out io.Writer) {
	fmt.Fprintf(out, "Usage: tinykv-server [flags]\n\nFlags:\n")
	fs.SetOutput(out)
	fs.PrintDefaults()
}
