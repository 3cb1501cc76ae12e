// Command tinykv-cluster runs a TinyKV cluster on this machine: one
// tinyscheduler-server and several tinykv-server processes on loopback,
// with every process's data and log under one directory. It is what
// `make run` starts (make builds the binaries first; this command builds
// nothing). Ctrl-C stops every process cleanly.
//
//	tinykv-cluster -stores 3 -data ./data/cluster
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tinykv-lab/tinykv/kv/cluster/local"
)

const usageText = `Usage: tinykv-cluster [flags]

Starts one tinyscheduler-server and -stores tinykv-server processes on
loopback, waits until the first region has its replicas (3, or fewer with
fewer stores), prints tinykv-ctl commands to try, and runs until Ctrl-C,
which stops every process cleanly (the stores first, then the scheduler).

Everything lives under -data (kept between runs): scheduler/ and store-N/
hold the data, logs/ one log file per process, scheduler.toml and
store.toml the settings. The settings are faster than production so that
the demo is responsive: raft ticks of 100ms instead of 1s (elections in
1-2 s), region and store heartbeats every 1s instead of 10s, split checks
every 1s, patrol-region-interval 100ms, and max-store-down-time 1m instead
of 30m. Edit the two files to change them (they are written at every start).

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tinykv-cluster", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	stores := fs.Int("stores", 3, "number of tinykv-server processes")
	dataDir := fs.String("data", "./data/cluster", "directory of every process's data, logs and config")
	binDir := fs.String("bin", "./bin", "directory with tinyscheduler-server, tinykv-server and tinykv-ctl")
	schedPort := fs.Int("scheduler-port", 2379, "scheduler client port (its peer port is the next one)")
	storePort := fs.Int("store-port", 20160, "port of the first store; store N listens on this + N - 1")
	statusPort := fs.Int("status-port", 20180, "HTTP status port (/metrics) of the first store; store N's is this + N - 1")
	logLevel := fs.String("loglevel", "info", "log level of every process")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for the first region's replicas")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageText)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "tinykv-cluster: %v\nRun 'tinykv-cluster -h' for the flags.\n", err)
		return 2
	}
	if fs.NArg() > 0 || *stores < 1 {
		fmt.Fprintf(stderr, "tinykv-cluster: want flags only and -stores >= 1\nRun 'tinykv-cluster -h' for the flags.\n")
		return 2
	}
	ports, statusPorts := make([]int, *stores), make([]int, *stores)
	for i := range ports {
		ports[i], statusPorts[i] = *storePort+i, *statusPort+i
	}
	c, err := local.New(local.Config{
		BinDir: *binDir, DataDir: *dataDir, Stores: *stores,
		SchedulerPort: *schedPort, SchedulerPeerPort: *schedPort + 1, StorePorts: ports, StatusPorts: statusPorts,
		StoreConfig: local.FastStoreConfig, SchedulerConfig: local.FastSchedulerConfig, LogLevel: *logLevel,
	})
	if err != nil {
		fmt.Fprintf(stderr, "tinykv-cluster: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// A process that exits before the cluster is up ends the start.
	startCtx, startFailed := context.WithCancelCause(ctx)
	defer startFailed(nil)
	c.OnUnexpectedExit(func(p *local.Proc, err error) {
		fmt.Fprintf(stderr, "\n%s exited unexpectedly (%v); the end of %s:\n%s\n", p.Name, err, p.LogPath, p.LogTail(15))
		startFailed(fmt.Errorf("%s exited while the cluster was starting", p.Name))
	})

	began := time.Now()
	fmt.Fprintf(stdout, "Starting a scheduler at %s and %d stores; data and logs in %s\n", c.Scheduler.Addr, *stores, *dataDir)
	if err := c.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "tinykv-cluster: %v\n", err)
		return 1
	}
	code := serve(ctx, startCtx, c, *stores, *wait, began, *binDir, stdout, stderr)
	stop()
	fmt.Fprintf(stdout, "Stopping the cluster...\n")
	if err := c.Stop(); err != nil {
		fmt.Fprintf(stderr, "tinykv-cluster: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Stopped. The data stays in %s for the next run.\n", *dataDir)
	return code
}

// serve waits for the replicas (giving up when startCtx ends), prints what
// to try, and runs until ctx ends.
func serve(ctx, startCtx context.Context, c *local.Cluster, stores int, wait time.Duration, began time.Time, binDir string, stdout, stderr io.Writer) int {
	sched, err := connect(ctx, c.Scheduler.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "tinykv-cluster: cannot reach the scheduler at %s: %v\n", c.Scheduler.Addr, err)
		return 1
	}
	defer sched.Close()
	waitCtx, cancel := context.WithTimeout(startCtx, wait)
	defer cancel()
	replicas := min(stores, 3)
	regions, err := local.WaitReplicas(waitCtx, sched, replicas)
	if err != nil {
		if ctx.Err() != nil {
			return 0
		}
		if cause := context.Cause(startCtx); cause != nil {
			err = cause
		}
		fmt.Fprintf(stderr, "tinykv-cluster: %v\nThe logs are in %s.\n", err, filepath.Dir(c.Scheduler.LogPath))
		return 1
	}
	ctl := filepath.Join(binDir, "tinykv-ctl") + " -scheduler " + c.Scheduler.Addr
	fmt.Fprintf(stdout, "\nThe cluster is up: %d region(s), each with %d replicas, %.1fs after the start.\n\n", len(regions), replicas, time.Since(began).Seconds())
	fmt.Fprintf(stdout, "Try, in another terminal:\n")
	for _, cmd := range []string{"put hello world", "get hello", "scan \"\"", "txn put alice 100 bob 50", "txn get alice", "regions", "stores", "tso"} {
		fmt.Fprintf(stdout, "  %s %s\n", ctl, cmd)
	}
	fmt.Fprintf(stdout, "\nDashboard: http://%s/dashboard/  Store metrics: http://%s/metrics (and the next ports)\n", c.Scheduler.Addr, c.Stores[0].StatusAddr)
	fmt.Fprintf(stdout, "Logs: %s. Ctrl-C stops the cluster.\n", filepath.Dir(c.Scheduler.LogPath))
	<-ctx.Done()
	return 0
}
