package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
)

// Config describes a local cluster.
type Config struct {
	// BinDir holds tinyscheduler-server and tinykv-server.
	BinDir string
	// DataDir holds everything: scheduler/, store-N/, logs/, the config files.
	DataDir string
	// Stores is the number of tinykv-server processes.
	Stores int
	// Host is the address every process listens on (default 127.0.0.1).
	Host string
	// SchedulerPort and SchedulerPeerPort are the scheduler's client and
	// peer ports; StorePorts the stores' (one per store). Zero ports are
	// chosen free.
	SchedulerPort, SchedulerPeerPort int
	StorePorts                       []int
	// StatusPorts are the stores' HTTP status ports (/metrics), one per
	// store; zero ports are chosen free.
	StatusPorts []int
	// StoreConfig and SchedulerConfig are the TOML config files of the
	// stores and of the scheduler (FastStoreConfig and FastSchedulerConfig
	// are the launcher's).
	StoreConfig, SchedulerConfig string
	// LogLevel of every process (default info).
	LogLevel string
	// ExtraStoreArgs are appended to every tinykv-server command line.
	ExtraStoreArgs []string
}

// FastStoreConfig is the store config of the launcher: ticks and
// heartbeats about ten times faster than production (TinyKV's defaults),
// so that elections, splits and scheduling show within seconds.
const FastStoreConfig = `# tinykv-server settings of the local cluster: faster than production.
[raftstore]
raft-base-tick-interval = "100ms"            # production 1s: election after 1-2 s instead of 10-20 s
raft-heartbeat-ticks = 2
raft-election-timeout-ticks = 10
raft-log-gc-tick-interval = "1s"              # production 10s
split-region-check-tick-interval = "1s"       # production 10s
scheduler-heartbeat-tick-interval = "1s"      # production 10s: region heartbeats
scheduler-store-heartbeat-tick-interval = "1s" # production 10s
`

// FastSchedulerConfig is the scheduler config of the launcher.
const FastSchedulerConfig = `# tinyscheduler-server settings of the local cluster: faster than production.
[schedule]
patrol-region-interval = "100ms"
max-store-down-time = "1m"                    # production 30m: a dead store's regions move after a minute

[replication]
max-replicas = 3
`

// Cluster is a local cluster's processes.
type Cluster struct {
	cfg       Config
	Scheduler *Proc
	Stores    []*Proc // Stores[i] is the (i+1)th store process (not the store id)
}

// New prepares a cluster: it creates the directories, writes the config
// files and chooses the ports; nothing is started.
func New(cfg Config) (*Cluster, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	if cfg.Stores <= 0 {
		return nil, fmt.Errorf("a cluster needs at least one store, got %d", cfg.Stores)
	}
	if len(cfg.StorePorts) != 0 && len(cfg.StorePorts) != cfg.Stores {
		return nil, fmt.Errorf("%d store ports for %d stores", len(cfg.StorePorts), cfg.Stores)
	}
	if len(cfg.StatusPorts) != 0 && len(cfg.StatusPorts) != cfg.Stores {
		return nil, fmt.Errorf("%d status ports for %d stores", len(cfg.StatusPorts), cfg.Stores)
	}
	schedBin := filepath.Join(cfg.BinDir, "tinyscheduler-server")
	storeBin := filepath.Join(cfg.BinDir, "tinykv-server")
	for _, bin := range []string{schedBin, storeBin} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("%s is missing (run make first): %v", bin, err)
		}
	}
	logDir := filepath.Join(cfg.DataDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %s: %v", logDir, err)
	}
	ports, err := choosePorts(cfg)
	if err != nil {
		return nil, err
	}
	schedConfig := filepath.Join(cfg.DataDir, "scheduler.toml")
	storeConfig := filepath.Join(cfg.DataDir, "store.toml")
	if err := os.WriteFile(schedConfig, []byte(cfg.SchedulerConfig), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(storeConfig, []byte(cfg.StoreConfig), 0o644); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg}
	schedAddr := net.JoinHostPort(cfg.Host, strconv.Itoa(ports[0]))
	peerURL := "http://" + net.JoinHostPort(cfg.Host, strconv.Itoa(ports[1]))
	c.Scheduler = &Proc{
		Name: "scheduler", Bin: schedBin, Addr: schedAddr, LogPath: filepath.Join(logDir, "scheduler.log"),
		Args: []string{"-name", "scheduler", "-data-dir", filepath.Join(cfg.DataDir, "scheduler"),
			"-client-urls", "http://" + schedAddr, "-peer-urls", peerURL,
			"-initial-cluster", "scheduler=" + peerURL,
			"-config", schedConfig, "-L", cfg.LogLevel},
	}
	for i := 0; i < cfg.Stores; i++ {
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(ports[2+i]))
		status := net.JoinHostPort(cfg.Host, strconv.Itoa(ports[2+cfg.Stores+i]))
		name := fmt.Sprintf("store-%d", i+1)
		args := []string{"-addr", addr, "-status-addr", status, "-path", filepath.Join(cfg.DataDir, name), "-scheduler", schedAddr,
			"-config", storeConfig, "-loglevel", cfg.LogLevel}
		c.Stores = append(c.Stores, &Proc{
			Name: name, Bin: storeBin, Addr: addr, StatusAddr: status, LogPath: filepath.Join(logDir, name+".log"),
			Args: append(args, cfg.ExtraStoreArgs...),
		})
	}
	return c, nil
}

// choosePorts returns the scheduler's client and peer ports, one per store,
// then one status port per store: the configured ones (which must be free)
// or free ones.
func choosePorts(cfg Config) ([]int, error) {
	want := append([]int{cfg.SchedulerPort, cfg.SchedulerPeerPort}, cfg.StorePorts...)
	for len(want) < 2+cfg.Stores {
		want = append(want, 0)
	}
	want = append(want, cfg.StatusPorts...)
	for len(want) < 2+2*cfg.Stores {
		want = append(want, 0)
	}
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	ports := make([]int, len(want))
	for i, port := range want {
		l, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(port)))
		if err != nil {
			return nil, fmt.Errorf("port %d on %s is not free (another cluster running?): %v", port, cfg.Host, err)
		}
		held = append(held, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// Procs are all processes, the scheduler first.
func (c *Cluster) Procs() []*Proc {
	return append([]*Proc{c.Scheduler}, c.Stores...)
}

// OnUnexpectedExit installs f to hear of every exit that Stop or Kill did
// not ask for.
func (c *Cluster) OnUnexpectedExit(f func(p *Proc, err error)) {
	for _, p := range c.Procs() {
		p.mu.Lock()
		p.onExit = f
		p.mu.Unlock()
	}
}

// Start starts the scheduler, waits until its port accepts connections,
// then starts every store. A process that fails to start stops the others.
func (c *Cluster) Start(ctx context.Context) error {
	if err := c.Scheduler.Start(); err != nil {
		return err
	}
	if err := WaitListening(ctx, c.Scheduler); err != nil {
		c.Stop()
		return err
	}
	for _, s := range c.Stores {
		if err := s.Start(); err != nil {
			c.Stop()
			return err
		}
	}
	return nil
}

// WaitListening waits until p accepts connections at its address.
func WaitListening(ctx context.Context, p *Proc) error {
	for {
		conn, err := net.DialTimeout("tcp", p.Addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-p.Exited():
			return fmt.Errorf("%s exited before listening on %s (%v); the end of %s:\n%s", p.Name, p.Addr, p.ExitErr(), p.LogPath, p.LogTail(20))
		case <-ctx.Done():
			return fmt.Errorf("%s does not listen on %s: %v", p.Name, p.Addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stopTimeout bounds a clean stop of one process.
const stopTimeout = 20 * time.Second

// Stop stops every process cleanly, the stores first (each stops while the
// scheduler is still there), then the scheduler. It returns the processes
// that did not exit cleanly.
func (c *Cluster) Stop() error {
	var errs []string
	for _, s := range c.Stores {
		if err := s.Stop(stopTimeout); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", s.Name, err))
		}
	}
	if err := c.Scheduler.Stop(stopTimeout); err != nil {
		errs = append(errs, fmt.Sprintf("%s: %v", c.Scheduler.Name, err))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Kill kills every process at once (kill -9).
func (c *Cluster) Kill() {
	for _, p := range c.Procs() {
		p.Kill()
	}
}

// RegionScanner is what WaitReplicas needs of the scheduler.
type RegionScanner interface {
	ScanRegions(ctx context.Context, start, end []byte, limit int) ([]*metapb.Region, []*metapb.Peer, error)
}

// WaitReplicas waits until the scheduler reports every region with n
// peers and a leader, and returns the regions.
func WaitReplicas(ctx context.Context, sched RegionScanner, n int) ([]*metapb.Region, error) {
	var last string
	for {
		regions, leaders, err := sched.ScanRegions(ctx, nil, nil, 10000)
		switch {
		case err != nil:
			last = err.Error()
		case len(regions) == 0:
			last = "the scheduler knows no region yet"
		default:
			last = ""
			for i, r := range regions {
				var leader *metapb.Peer
				if i < len(leaders) {
					leader = leaders[i]
				}
				if len(r.Peers) != n || leader.GetId() == 0 {
					last = fmt.Sprintf("region %d has %d peers (want %d), leader %v", r.Id, len(r.Peers), n, leader)
					break
				}
			}
			if last == "" {
				return regions, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("regions not at %d replicas: %v (%s)", n, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
