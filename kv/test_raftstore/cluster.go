package test_raftstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// testClusterID is the id of every test cluster.
const testClusterID uint64 = 1

// Cluster is a test cluster: count stores (ids 1..count) in this process,
// each with its own engines, on a mock network with a mock scheduler.
type Cluster struct {
	schedulerClient *MockSchedulerClient
	count           int
	engines         map[uint64]*engine_util.Engines
	dbPaths         map[uint64]string
	baseDir         string
	simulator       Simulator
	cfg             *config.Config

	seed int64
	rng  *lockedRand
	// name labels the cluster in its summary line (tests set it to t.Name()).
	name string
	// note is added to the summary line (tests report their own counts).
	note string
	// requestTimeout bounds each MustPut, MustGet, Scan ... before it fails.
	requestTimeout time.Duration

	startTime time.Time
	started   atomic.Bool
	stopOnce  sync.Once
	stopped   atomic.Bool
	// abandoned is set when a failure elsewhere shuts the cluster down:
	// Shutdown then reports nothing more.
	abandoned atomic.Bool
}

// NewTestCluster prepares a cluster of count stores configured by cfg;
// Start starts it.
func NewTestCluster(count int, cfg *config.Config) *Cluster {
	if count < 1 {
		failNow("NewTestCluster: a cluster needs at least one store, got %d", count)
	}
	if cfg == nil {
		failNow("NewTestCluster: nil config")
	}
	schedulerClient := NewMockSchedulerClient(testClusterID, uint64(count)+1)
	seed := chooseSeed()
	return &Cluster{
		schedulerClient: schedulerClient,
		count:           count,
		engines:         make(map[uint64]*engine_util.Engines),
		dbPaths:         make(map[uint64]string),
		simulator:       NewNodeSimulator(schedulerClient),
		cfg:             cfg,
		name:            callerTestName(),
		seed:            seed,
		rng:             newLockedRand(seed),
		requestTimeout:  defaultRequestTimeout,
	}
}

// callerTestName is the name of the Test or Benchmark function that is
// creating a cluster, found on the call stack ("" if none).
func callerTestName() string {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		frame, more := frames.Next()
		name := frame.Function[strings.LastIndex(frame.Function, "/")+1:]
		if _, fn, ok := strings.Cut(name, "."); ok {
			fn, _, _ = strings.Cut(fn, ".")
			if strings.HasPrefix(fn, "Test") || strings.HasPrefix(fn, "Benchmark") {
				return fn
			}
		}
		if !more {
			return ""
		}
	}
}

func (c *Cluster) label() string {
	if c.name != "" {
		return c.name
	}
	return c.baseDir
}

// Start creates every store's directory (kv/, raft/ and snap/, under the
// cluster's temporary directory) and engines, bootstraps region 1 over all
// keys with peer i on store i, tells the scheduler, and starts the stores.
func (c *Cluster) Start() {
	if !c.started.CompareAndSwap(false, true) {
		failNow("cluster %s: Start called twice", c.label())
	}
	// Hand the memory of the clusters before (badger's memtable arenas,
	// mostly) back to the OS before this one allocates its own. Shutdown
	// cannot: the test holds its cluster, and the closed engines their
	// memtables, until it returns. Measured over the 2B, 2C and 3B suites run
	// twice in one process: the mean RSS drops from 264 MB to 107-157 MB;
	// the peak (566 MB without, 453-561 MB with this) is one test's own.
	debug.FreeOSMemory()
	sweepStaleDirs()
	trackCluster(c)
	c.startTime = time.Now()
	dir, err := makeClusterDir()
	if err != nil {
		failNow("cluster: create the temporary directory: %v", err)
	}
	c.baseDir = dir
	for storeID := uint64(1); storeID <= uint64(c.count); storeID++ {
		if err := c.openStore(storeID); err != nil {
			failNow("cluster %s: store %d: %v", c.label(), storeID, err)
		}
	}
	region, err := c.bootstrapStores()
	if err != nil {
		failNow("cluster %s: bootstrap: %v", c.label(), err)
	}
	if err := c.bootstrapScheduler(region); err != nil {
		failNow("cluster %s: bootstrap the scheduler: %v", c.label(), err)
	}
	for storeID := uint64(1); storeID <= uint64(c.count); storeID++ {
		c.StartServer(storeID)
	}
}

// openStore creates the directories and engines of one store.
func (c *Cluster) openStore(storeID uint64) error {
	dbPath := filepath.Join(c.baseDir, fmt.Sprintf("store%d", storeID))
	kvPath, raftPath := filepath.Join(dbPath, "kv"), filepath.Join(dbPath, "raft")
	for _, dir := range []string{kvPath, raftPath, filepath.Join(dbPath, "snap")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	kvDB, err := engine_util.CreateKVDB(kvPath)
	if err != nil {
		return err
	}
	raftDB, err := engine_util.CreateRaftDB(raftPath)
	if err != nil {
		_ = kvDB.Close()
		return err
	}
	c.dbPaths[storeID] = dbPath
	c.engines[storeID] = engine_util.NewEngines(kvDB, raftDB, kvPath, raftPath)
	return nil
}

// bootstrapStores writes each store's identity, then region 1 with one peer
// per store (peer id = store id): store 1 prepares it, and its initial
// states are copied to every store with the full peer list.
func (c *Cluster) bootstrapStores() (*metapb.Region, error) {
	for storeID, engines := range c.engines {
		if err := raftstore.BootstrapStore(engines, testClusterID, storeID); err != nil {
			return nil, err
		}
	}
	first := c.engines[1]
	region, err := raftstore.PrepareBootstrap(first, 1, 1, 1)
	if err != nil {
		return nil, err
	}
	region.Peers = nil
	for storeID := uint64(1); storeID <= uint64(c.count); storeID++ {
		region.Peers = append(region.Peers, NewPeer(storeID, storeID))
	}
	raftState, err := meta.GetRaftLocalState(first.Raft, region.Id)
	if err != nil {
		return nil, fmt.Errorf("read the raft state prepared on store 1: %v", err)
	}
	applyState, err := meta.GetApplyState(first.Kv, region.Id)
	if err != nil {
		return nil, fmt.Errorf("read the apply state prepared on store 1: %v", err)
	}
	for _, engines := range c.engines {
		if err := writeInitialRegion(engines, region, raftState, applyState); err != nil {
			return nil, err
		}
	}
	if err := raftstore.ClearPrepareBootstrapState(first); err != nil {
		return nil, err
	}
	return region, nil
}

func writeInitialRegion(engines *engine_util.Engines, region *metapb.Region,
	raftState *raft_serverpb.RaftLocalState, applyState *raft_serverpb.RaftApplyState) error {
	kvWB := new(engine_util.WriteBatch)
	regionState := &raft_serverpb.RegionLocalState{State: raft_serverpb.PeerState_Normal, Region: region}
	if err := kvWB.SetMeta(meta.RegionStateKey(region.Id), regionState); err != nil {
		return err
	}
	if err := kvWB.SetMeta(meta.ApplyStateKey(region.Id), applyState); err != nil {
		return err
	}
	if err := engines.WriteKV(kvWB); err != nil {
		return err
	}
	raftWB := new(engine_util.WriteBatch)
	if err := raftWB.SetMeta(meta.RaftStateKey(region.Id), raftState); err != nil {
		return err
	}
	return engines.WriteRaft(raftWB)
}

func (c *Cluster) bootstrapScheduler(region *metapb.Region) error {
	ctx := context.Background()
	resp, err := c.schedulerClient.Bootstrap(ctx, &metapb.Store{Id: 1}, proto.Clone(region).(*metapb.Region))
	if err != nil {
		return err
	}
	if resp.GetHeader().GetError() != nil {
		return fmt.Errorf("%v", resp.Header.Error)
	}
	for storeID := range c.engines {
		if err := c.schedulerClient.PutStore(ctx, &metapb.Store{Id: storeID}); err != nil {
			return err
		}
	}
	return nil
}

// Shutdown stops every store, closes the engines, removes the cluster's
// directories and prints a one-line summary. It may be called more than
// once (the harness calls it itself when a helper fails). Once everything
// is cleaned up, it fails the test if the scheduler refused an impossible
// membership change during the run.
func (c *Cluster) Shutdown() {
	c.shutdown()
	if !c.abandoned.Load() {
		c.checkScheduler()
	}
}

func (c *Cluster) shutdown() {
	c.stopOnce.Do(func() {
		c.stopped.Store(true)
		defer untrackCluster(c)
		if !c.started.Load() {
			return
		}
		c.stopStores()
		for storeID, engines := range c.engines {
			if err := engines.Close(); err != nil {
				fmt.Fprintf(os.Stderr, "test_raftstore: close the engines of store %d: %v\n", storeID, err)
			}
		}
		c.removeDirs()
		fmt.Println(c.summary())
	})
}

func (c *Cluster) stopStores() {
	if sim, ok := c.simulator.(*NodeSimulator); ok {
		sim.stopAll()
		return
	}
	for _, storeID := range c.simulator.GetStoreIds() {
		c.simulator.StopStore(storeID)
	}
}

func (c *Cluster) removeDirs() {
	if c.baseDir != "" {
		_ = os.RemoveAll(c.baseDir)
	}
}

// summary is the cluster's one-line report: run time, stores, traffic.
func (c *Cluster) summary() string {
	line := fmt.Sprintf("test_raftstore: %s: %.1fs stores=%d", c.label(), time.Since(c.startTime).Seconds(), c.count)
	if sim, ok := c.simulator.(*NodeSimulator); ok {
		line += " " + sim.trans.summary()
	}
	if c.note != "" {
		line += " " + c.note
	}
	return line + fmt.Sprintf(" seed=%d", c.seed)
}

// StopServer crashes a store: its node stops, its engines stay as they are.
func (c *Cluster) StopServer(storeID uint64) {
	c.checkRunning("StopServer")
	log.Infof("[msg] store=%d the test stops the store", storeID)
	c.simulator.StopStore(storeID)
}

// StartServer starts a store again (or for the first time) over its engines.
func (c *Cluster) StartServer(storeID uint64) {
	c.checkRunning("StartServer")
	engines := c.engines[storeID]
	if engines == nil {
		failNow("cluster %s: StartServer: no store %d (stores are 1..%d)", c.label(), storeID, c.count)
	}
	for _, running := range c.simulator.GetStoreIds() {
		if running == storeID {
			failNow("cluster %s: StartServer: store %d is running already (stop it first)", c.label(), storeID)
		}
	}
	storeCfg := *c.cfg
	storeCfg.DBPath = c.dbPaths[storeID]
	log.Infof("[msg] store=%d the test starts the store", storeID)
	if err := c.simulator.RunStore(&storeCfg, engines, context.Background()); err != nil {
		failNow("cluster %s: start store %d: %v", c.label(), storeID, err)
	}
}

func (c *Cluster) checkRunning(what string) {
	if !c.started.Load() || c.stopped.Load() {
		failNow("cluster %s: %s on a cluster that is not running (call Start first; not after Shutdown)", c.label(), what)
	}
}

// AddFilter adds a filter to the network; filters that draw random numbers
// use the cluster's seeded generator.
func (c *Cluster) AddFilter(filter Filter) {
	if v, ok := filter.(validFilter); ok {
		if err := v.validate(); err != nil {
			failNow("cluster %s: AddFilter: %v", c.label(), err)
		}
	}
	if r, ok := filter.(randomFilter); ok {
		r.setRand(c.rng)
	}
	log.Infof("[msg] the test adds filter %v", filter)
	c.simulator.AddFilter(filter)
}

// ClearFilters removes every filter: the network is reliable again.
func (c *Cluster) ClearFilters() {
	log.Infof("[msg] the test clears the filters")
	c.simulator.ClearFilters()
}

// transport is the cluster's network, for statistics.
func (c *Cluster) transport() *MockTransport {
	if sim, ok := c.simulator.(*NodeSimulator); ok {
		return sim.trans
	}
	return nil
}
