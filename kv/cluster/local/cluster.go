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
	// Schedulers is the number of tinyscheduler-server members (default 1);
	// with several, etcd elects the one that serves and every store is
	// given them all.
	Schedulers int
	// Host is the address every process listens on (default 127.0.0.1).
	Host string
	// SchedulerPort and SchedulerPeerPort are the (first) scheduler
	// member's client and peer ports; StorePorts the stores' (one per
	// store). Zero ports, and the ports of the other members, are chosen
	// free.
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
max-leader-missing-duration = "10s"           # production 2m: a peer removed while its store was down goes sooner
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
	cfg Config
	// Scheduler is the first scheduler member; Schedulers are all of them.
	Scheduler  *Proc
	Schedulers []*Proc
	Stores     []*Proc // Stores[i] is the (i+1)th store process (not the store id)
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
	if cfg.Schedulers == 0 {
		cfg.Schedulers = 1
	}
	if cfg.Schedulers < 0 {
		return nil, fmt.Errorf("a cluster needs at least one scheduler member, got %d", cfg.Schedulers)
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
	// One member is "scheduler" (as the launcher's data directories have
	// always been named); several are scheduler-1, scheduler-2, ...
	names := []string{"scheduler"}
	if cfg.Schedulers > 1 {
		names = names[:0]
		for i := 1; i <= cfg.Schedulers; i++ {
			names = append(names, fmt.Sprintf("scheduler-%d", i))
		}
	}
	var initial, schedAddrs []string
	for i, name := range names {
		peerURL := "http://" + net.JoinHostPort(cfg.Host, strconv.Itoa(ports[2*i+1]))
		initial = append(initial, name+"="+peerURL)
	}
	for i, name := range names {
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(ports[2*i]))
		peerURL := "http://" + net.JoinHostPort(cfg.Host, strconv.Itoa(ports[2*i+1]))
		c.Schedulers = append(c.Schedulers, &Proc{
			Name: name, Bin: schedBin, Addr: addr, LogPath: filepath.Join(logDir, name+".log"),
			Args: []string{"-name", name, "-data-dir", filepath.Join(cfg.DataDir, name),
				"-client-urls", "http://" + addr, "-peer-urls", peerURL,
				"-initial-cluster", strings.Join(initial, ","),
				"-config", schedConfig, "-L", cfg.LogLevel},
		})
		schedAddrs = append(schedAddrs, addr)
	}
	c.Scheduler = c.Schedulers[0]
	base := 2 * cfg.Schedulers
	for i := 0; i < cfg.Stores; i++ {
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(ports[base+i]))
		status := net.JoinHostPort(cfg.Host, strconv.Itoa(ports[base+cfg.Stores+i]))
		name := fmt.Sprintf("store-%d", i+1)
		args := []string{"-addr", addr, "-status-addr", status, "-path", filepath.Join(cfg.DataDir, name), "-scheduler", strings.Join(schedAddrs, ","),
			"-config", storeConfig, "-loglevel", cfg.LogLevel}
		c.Stores = append(c.Stores, &Proc{
			Name: name, Bin: storeBin, Addr: addr, StatusAddr: status, LogPath: filepath.Join(logDir, name+".log"),
			Args: append(args, cfg.ExtraStoreArgs...),
		})
	}
	return c, nil
}

// choosePorts returns each scheduler member's client and peer ports, one
// port per store, then one status port per store: the configured ones
// (which must be free) or free ones.
func choosePorts(cfg Config) ([]int, error) {
	want := []int{cfg.SchedulerPort, cfg.SchedulerPeerPort}
	for len(want) < 2*cfg.Schedulers {
		want = append(want, 0)
	}
	base := len(want)
	want = append(want, cfg.StorePorts...)
	for len(want) < base+cfg.Stores {
		want = append(want, 0)
	}
	want = append(want, cfg.StatusPorts...)
	for len(want) < base+2*cfg.Stores {
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

// Procs are all processes, the scheduler members first.
func (c *Cluster) Procs() []*Proc {
	return append(append([]*Proc{}, c.Schedulers...), c.Stores...)
}

// SchedulerAddrs are the client addresses (host:port) of every scheduler
// member.
func (c *Cluster) SchedulerAddrs() []string {
	var addrs []string
	for _, p := range c.Schedulers {
		addrs = append(addrs, p.Addr)
	}
	return addrs
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

// Start starts the scheduler members, waits until their ports accept
// connections, then starts every store. A process that fails to start
// stops the others.
func (c *Cluster) Start(ctx context.Context) error {
	for _, s := range c.Schedulers {
		if err := s.Start(); err != nil {
			c.Stop()
			return err
		}
	}
	for _, s := range c.Schedulers {
		if err := WaitListening(ctx, s); err != nil {
			c.Stop()
			return err
		}
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
// scheduler is still there), then the scheduler members. It returns the
// processes that did not exit cleanly.
func (c *Cluster) Stop() error {
	var errs []string
	for _, s := range c.Stores {
		if err := s.Stop(stopTimeout); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", s.Name, err))
		}
	}
	for _, s := range c.Schedulers {
		if err := s.Stop(stopTimeout); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", s.Name, err))
		}
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
