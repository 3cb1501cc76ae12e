// Command tinyscheduler-server is the cluster's scheduler: ids,
// timestamps, cluster metadata, region heartbeats and scheduling, on an
// embedded etcd member whose client port serves both the Scheduler gRPC
// service and the etcd v3 API.
//
//	tinyscheduler-server                                  # one member on 127.0.0.1:2379
//	tinyscheduler-server -name s1 -data-dir d1 \
//	    -client-urls http://127.0.0.1:2379 -peer-urls http://127.0.0.1:2380 \
//	    -initial-cluster s1=http://127.0.0.1:2380,s2=http://127.0.0.1:2382,s3=http://127.0.0.1:2384
//
// Exit status: 0 after SIGINT/SIGTERM, 2 for a bad flag or configuration
// (the message names the setting), 1 when the server cannot run (data
// directory unusable, port in use, etcd failed).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/scheduler/server"
	"github.com/tinykv-lab/tinykv/scheduler/server/api"
	"github.com/tinykv-lab/tinykv/scheduler/server/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// parse reads the flags and the config file they name into a config;
// flags given on the command line win over the file.
func parse(args []string, stderr io.Writer) (*config.Config, error) {
	cfg := config.NewConfig()
	fs := flag.NewFlagSet("tinyscheduler-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configFile          = fs.String("config", "", "TOML config file (flags win over it)")
		name                = fs.String("name", cfg.Name, "name of this member")
		dataDir             = fs.String("data-dir", "", "data directory (created if missing; default default.<name>)")
		clientURLs          = fs.String("client-urls", cfg.ClientUrls, "URLs to serve clients on (Scheduler API and etcd v3 API)")
		peerURLs            = fs.String("peer-urls", cfg.PeerUrls, "URLs to serve the other members on")
		advertiseClientURLs = fs.String("advertise-client-urls", "", "client URLs told to others (default -client-urls)")
		advertisePeerURLs   = fs.String("advertise-peer-urls", "", "peer URLs told to others (default -peer-urls)")
		initialCluster      = fs.String("initial-cluster", "", "first members as name=peerURL,... (default this member alone)")
		clusterState        = fs.String("initial-cluster-state", cfg.InitialClusterState, "new, or existing to join a running cluster")
		logLevel            = fs.String("L", cfg.Log.Level, "log level: debug, info, warn, error, fatal")
	)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	if *configFile != "" {
		if err := cfg.LoadFile(*configFile); err != nil {
			return nil, err
		}
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			cfg.Name = *name
		case "data-dir":
			cfg.DataDir = *dataDir
		case "client-urls":
			cfg.ClientUrls = *clientURLs
		case "peer-urls":
			cfg.PeerUrls = *peerURLs
		case "advertise-client-urls":
			cfg.AdvertiseClientUrls = *advertiseClientURLs
		case "advertise-peer-urls":
			cfg.AdvertisePeerUrls = *advertisePeerURLs
		case "initial-cluster":
			cfg.InitialCluster = *initialCluster
		case "initial-cluster-state":
			cfg.InitialClusterState = *clusterState
		case "L":
			cfg.Log.Level = *logLevel
		}
	})
	cfg.Adjust()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func run(args []string, stderr io.Writer) int {
	cfg, err := parse(args, stderr)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "tinyscheduler-server: %v\n", err)
		return 2
	}
	level, _ := log.ParseLevel(cfg.Log.Level)
	log.SetLevel(level)

	srv, err := server.CreateServer(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tinyscheduler-server: %v\n", err)
		return 2
	}
	srv.SetHTTPHandlers(api.Handlers(srv))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	if err := srv.Run(); err != nil {
		fmt.Fprintf(stderr, "tinyscheduler-server: %v\n", err)
		return 1
	}
	select {
	case sig := <-sigs:
		log.Infof("[server] name=%s got %v, stopping", cfg.Name, sig)
		srv.Close()
		return 0
	case <-srv.Done():
		srv.Close()
		fmt.Fprintf(stderr, "tinyscheduler-server: member %s stopped: its etcd failed\n", cfg.Name)
		return 1
	}
}
