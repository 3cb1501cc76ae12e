package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tinykv-lab/tinykv/kv/config"
)

// parseFlags turns the command line into a validated configuration. The
// flag names are TinyKV's, so its documents and scripts work unchanged.
// Settings come from, weakest first: the defaults, LOG_LEVEL, the -config
// file, the flags. Usage goes to out when asked for with -h (the error is
// then flag.ErrHelp).
func parseFlags(args []string, out io.Writer) (*config.Config, error) {
	conf := baseConfig()
	fs, configPath := newFlagSet(conf)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			printUsage(fs, out)
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: tinykv-server takes flags only", fs.Arg(0))
	}
	if *configPath != "" {
		// The file goes under the flags: load it into a fresh configuration,
		// then parse the same flags again over it.
		conf = baseConfig()
		if err := conf.LoadFile(*configPath); err != nil {
			return nil, err
		}
		fs, _ = newFlagSet(conf)
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
	}
	conf.SchedulerAddr = strings.TrimPrefix(strings.TrimPrefix(conf.SchedulerAddr, "http://"), "https://")
	if err := conf.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %v", err)
	}
	return conf, nil
}

// baseConfig is the default configuration of a server (raft mode), with
// the log level from LOG_LEVEL when it is set.
func baseConfig() *config.Config {
	conf := config.NewDefaultConfig()
	conf.Raft = true
	if env := os.Getenv("LOG_LEVEL"); env != "" {
		conf.LogLevel = env
	}
	return conf
}

// newFlagSet defines the flags over conf; configPath receives -config.
func newFlagSet(conf *config.Config) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("tinykv-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints the error once, in its own words
	fs.Usage = func() {}     // the flag package calls it on every error; usage is printed for -h only
	configPath := fs.String("config", "", "TOML file with any of the settings (doc/cluster.md lists them); flags win over it")
	fs.StringVar(&conf.StoreAddr, "addr", conf.StoreAddr, "address to listen on, host:port; other stores and clients reach this store there")
	fs.StringVar(&conf.StatusAddr, "status-addr", conf.StatusAddr, "address of the HTTP status server (/metrics), host:port; empty for none")
	fs.StringVar(&conf.DBPath, "path", conf.DBPath, "data directory, created if missing")
	fs.StringVar(&conf.SchedulerAddr, "scheduler", conf.SchedulerAddr, "scheduler address, host:port (raft mode); several members separated by commas")
	fs.StringVar(&conf.LogLevel, "loglevel", conf.LogLevel, "log level: debug, info, warn, error or fatal (LOG_LEVEL sets the default)")
	fs.Var(boolFunc(func(s string) error {
		v, err := parseBool(s)
		conf.Raft = !v
		return err
	}), "standalone", "serve from local storage only, without raft or a scheduler (project 1); the default is the raft store")
	sizeFlag(fs, &conf.RegionMaxSize, "region-max-size", "a region larger than this splits (such as 144MiB, 512KiB, 800B)")
	sizeFlag(fs, &conf.RegionSplitSize, "region-split-size", "where a region splits: the first part holds about this much (such as 96MiB)")
	return fs, configPath
}

// boolFunc is a boolean flag that calls a function, so that "-standalone"
// alone means true and sets the opposite field.
type boolFunc func(string) error

func (f boolFunc) Set(s string) error { return f(s) }
func (f boolFunc) String() string     { return "" }
func (f boolFunc) IsBoolFlag() bool   { return true }

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "t", "true":
		return true, nil
	case "0", "f", "false":
		return false, nil
	}
	return false, fmt.Errorf("want true or false, got %q", s)
}

// sizeValue is a size flag (config.ParseSize).
type sizeValue struct{ n *uint64 }

func (s sizeValue) String() string {
	if s.n == nil {
		return ""
	}
	return config.FormatSize(*s.n)
}

func (s sizeValue) Set(text string) error {
	n, err := config.ParseSize(text)
	if err != nil {
		return err
	}
	*s.n = n
	return nil
}

func sizeFlag(fs *flag.FlagSet, dst *uint64, name, usage string) {
	fs.Var(sizeValue{dst}, name, usage)
}

func printUsage(fs *flag.FlagSet, out io.Writer) {
	fmt.Fprintf(out, "Usage: tinykv-server [flags]\n\n"+
		"Runs one TinyKV store. By default it is a member of a raft cluster that the\n"+
		"scheduler at -scheduler coordinates (it waits for the scheduler to be up);\n"+
		"-standalone serves project 1's local storage instead. SIGINT or SIGTERM stops\n"+
		"it cleanly. doc/cluster.md describes running a cluster.\n\nFlags:\n")
	fs.SetOutput(out)
	fs.PrintDefaults()
}
