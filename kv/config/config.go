// Package config holds the settings of a tinykv-server and of the test
// clusters: addresses, paths, raft timing, log GC and region sizes.
package config

import (
	"fmt"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tinykv-lab/tinykv/log"
)

// Config is the configuration of one store.
type Config struct {
	// StoreAddr is the address the gRPC server listens on (and that other
	// stores use to reach this one).
	StoreAddr string
	// StatusAddr is where /metrics is served (empty: nowhere).
	StatusAddr string
	// Raft selects the raft store; false runs the standalone storage of project 1.
	Raft bool
	// SchedulerAddr is the scheduler's address (raft mode only): host:port
	// or http://host:port, or several of them separated by commas for a
	// scheduler of several members.
	SchedulerAddr string
	// LogLevel is one of debug, info, warn, error, fatal.
	LogLevel string

	// DBPath is the data directory; kv/, raft/ and snap/ live inside it.
	DBPath string

	// RaftBaseTickInterval is the wall-clock length of one raft tick.
	RaftBaseTickInterval time.Duration
	// RaftHeartbeatTicks is the leader's heartbeat interval, in ticks.
	RaftHeartbeatTicks int
	// RaftElectionTimeoutTicks is the base election timeout, in ticks.
	RaftElectionTimeoutTicks int

	// RaftLogGCTickInterval is how often a leader considers compacting its log.
	RaftLogGCTickInterval time.Duration
	// RaftLogGcCountLimit: the log is compacted once more than this many
	// applied entries are kept.
	RaftLogGcCountLimit uint64

	// SplitRegionCheckTickInterval is how often a leader checks its region's size.
	SplitRegionCheckTickInterval time.Duration
	// SchedulerHeartbeatTickInterval is how often a leader reports its region.
	SchedulerHeartbeatTickInterval time.Duration
	// SchedulerStoreHeartbeatTickInterval is how often a store reports itself.
	SchedulerStoreHeartbeatTickInterval time.Duration
	// MaxLeaderMissingDuration is how long a follower may go without hearing
	// from a leader before it asks the scheduler whether it is still a
	// member of its region (a peer removed while its store was down, or
	// created by a message that came after its removal, is told by nobody
	// else). It is checked at each SchedulerHeartbeatTickInterval, and is
	// never taken shorter than two of the longest election timeouts.
	MaxLeaderMissingDuration time.Duration

	// RegionMaxSize: a region larger than this is split ...
	RegionMaxSize uint64
	// RegionSplitSize: ... at the key where its first part reaches this size.
	RegionSplitSize uint64

	// SnapConcurrentSends and SnapConcurrentRecvs bound the snapshots a store
	// streams out and in at the same time.
	SnapConcurrentSends int
	SnapConcurrentRecvs int
}

const (
	KB uint64 = 1024
	MB uint64 = 1024 * 1024
)

// Validate checks the settings and says what is wrong with the first bad one.
func (c *Config) Validate() error {
	if c.RaftHeartbeatTicks <= 0 {
		return fmt.Errorf("heartbeat ticks must be positive, got %d", c.RaftHeartbeatTicks)
	}
	if c.RaftElectionTimeoutTicks <= c.RaftHeartbeatTicks {
		return fmt.Errorf("election timeout (%d ticks) must be longer than the heartbeat interval (%d ticks)",
			c.RaftElectionTimeoutTicks, c.RaftHeartbeatTicks)
	}
	if c.RaftBaseTickInterval <= 0 {
		return fmt.Errorf("raft base tick interval must be positive, got %v", c.RaftBaseTickInterval)
	}
	for name, d := range map[string]time.Duration{
		"raft log GC tick interval":        c.RaftLogGCTickInterval,
		"split region check tick interval": c.SplitRegionCheckTickInterval,
		"scheduler heartbeat interval":     c.SchedulerHeartbeatTickInterval,
		"store heartbeat interval":         c.SchedulerStoreHeartbeatTickInterval,
	} {
		if d <= 0 {
			return fmt.Errorf("%s must be positive, got %v", name, d)
		}
	}
	if c.RaftLogGcCountLimit == 0 {
		return fmt.Errorf("raft log GC count limit must be positive")
	}
	if c.RegionSplitSize == 0 || c.RegionMaxSize < c.RegionSplitSize {
		return fmt.Errorf("region split size (%d) must be positive and at most the region max size (%d)",
			c.RegionSplitSize, c.RegionMaxSize)
	}
	if c.SnapConcurrentSends <= 0 || c.SnapConcurrentRecvs <= 0 {
		return fmt.Errorf("concurrent snapshot sends (%d) and receives (%d) must be positive",
			c.SnapConcurrentSends, c.SnapConcurrentRecvs)
	}
	if c.DBPath == "" {
		return fmt.Errorf("data path is empty")
	}
	if _, err := log.ParseLevel(c.LogLevel); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.StoreAddr); err != nil {
		return fmt.Errorf("store address %q: %v", c.StoreAddr, err)
	}
	if c.Raft {
		addrs := c.SchedulerAddrs()
		if len(addrs) == 0 {
			return fmt.Errorf("scheduler address %q: no address", c.SchedulerAddr)
		}
		for _, addr := range addrs {
			if _, _, err := net.SplitHostPort(strings.TrimPrefix(addr, "http://")); err != nil {
				return fmt.Errorf("scheduler address %q: %v", addr, err)
			}
		}
	}
	return nil
}

// SchedulerAddrs are the scheduler members of SchedulerAddr, one per
// comma-separated part.
func (c *Config) SchedulerAddrs() []string {
	var addrs []string
	for _, part := range strings.Split(c.SchedulerAddr, ",") {
		if part = strings.TrimSpace(part); part != "" {
			addrs = append(addrs, part)
		}
	}
	return addrs
}

// NewDefaultConfig is the configuration of a tinykv-server.
func NewDefaultConfig() *Config {
	return &Config{
		StoreAddr:                           "127.0.0.1:20160",
		StatusAddr:                          "127.0.0.1:20180",
		SchedulerAddr:                       "127.0.0.1:2379",
		LogLevel:                            "info",
		DBPath:                              "./data",
		RaftBaseTickInterval:                time.Second,
		RaftHeartbeatTicks:                  2,
		RaftElectionTimeoutTicks:            10,
		RaftLogGCTickInterval:               10 * time.Second,
		RaftLogGcCountLimit:                 128000,
		SplitRegionCheckTickInterval:        10 * time.Second,
		SchedulerHeartbeatTickInterval:      10 * time.Second,
		SchedulerStoreHeartbeatTickInterval: 10 * time.Second,
		MaxLeaderMissingDuration:            2 * time.Minute,
		RegionMaxSize:                       144 * MB,
		RegionSplitSize:                     96 * MB,
		SnapConcurrentSends:                 4,
		SnapConcurrentRecvs:                 4,
	}
}

// NewTestConfig is the configuration used by tests: fast ticks, raft mode,
// and a data directory of its own under the OS temp dir (not created here;
// the test removes it when it is done).
func NewTestConfig() *Config {
	c := NewDefaultConfig()
	c.Raft = true
	c.DBPath = newTestDBPath()
	c.RaftBaseTickInterval = 50 * time.Millisecond
	c.RaftLogGCTickInterval = 50 * time.Millisecond
	c.SplitRegionCheckTickInterval = 100 * time.Millisecond
	c.SchedulerHeartbeatTickInterval = 100 * time.Millisecond
	c.SchedulerStoreHeartbeatTickInterval = 500 * time.Millisecond
	c.MaxLeaderMissingDuration = 3 * time.Second
	return c
}

// newTestDBPath names a fresh directory under the OS temp dir.
func newTestDBPath() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("tinykv-test-%d-%016x", os.Getpid(), rand.Uint64()))
}
