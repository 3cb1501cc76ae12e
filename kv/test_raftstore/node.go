package test_raftstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/scheduler_client"
	"github.com/tinykv-lab/tinykv/kv/raftstore/snap"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

// Simulator runs the stores of a test cluster.
type Simulator interface {
	// RunStore starts a store over engines (its id is in the engines).
	RunStore(cfg *config.Config, engines *engine_util.Engines, ctx context.Context) error
	// StopStore stops a running store; its engines stay open.
	StopStore(storeID uint64)
	AddFilter(filter Filter)
	ClearFilters()
	// GetStoreIds lists the running stores.
	GetStoreIds() []uint64
	// CallCommandOnStore sends request to the store and waits at most
	// timeout for the answer; nil means none came (or the store is down).
	CallCommandOnStore(storeID uint64, request *raft_cmdpb.RaftCmdRequest, timeout time.Duration) (*raft_cmdpb.RaftCmdResponse, *badger.Txn)
}

// NodeSimulator runs each store as a raftstore.Node in this process, all
// connected by one MockTransport.
type NodeSimulator struct {
	mu              sync.RWMutex
	nodes           map[uint64]*raftstore.Node
	routers         map[uint64]message.RaftRouter
	trans           *MockTransport
	schedulerClient scheduler_client.Client

	// Answers that come after their caller stopped waiting may carry a read
	// transaction; late collects them so they are discarded, and stops
	// waiting when the simulator shuts down.
	late     sync.WaitGroup
	shutdown chan struct{}

	// waiting are the commands sent to a store and not answered yet, with
	// the incarnation of the store they were sent to (a store that stops
	// may leave its commands unanswered).
	waitMu      sync.Mutex
	waiting     map[*message.Callback]sentCommand
	incarnation map[uint64]int
	// crashed is the incarnation of each store that last crashed (see
	// crash.go): its answers are not taken.
	crashed map[uint64]int
}

// sentCommand is a command handed to a store.
type sentCommand struct {
	storeID     uint64
	incarnation int
	at          time.Time
	request     *raft_cmdpb.RaftCmdRequest
}

// what describes the command, for failure messages (only then: it costs
// more than sending it).
func (c sentCommand) what() string { return describeCommand(c.request) }

// NewNodeSimulator makes a simulator with no store running.
func NewNodeSimulator(schedulerClient scheduler_client.Client) *NodeSimulator {
	s := &NodeSimulator{
		nodes:           make(map[uint64]*raftstore.Node),
		routers:         make(map[uint64]message.RaftRouter),
		trans:           NewMockTransport(),
		schedulerClient: schedulerClient,
		shutdown:        make(chan struct{}),
		waiting:         make(map[*message.Callback]sentCommand),
		incarnation:     make(map[uint64]int),
		crashed:         make(map[uint64]int),
	}
	s.trans.crashes.onFire = s.fireCrash
	return s
}

// RunStore starts a node over engines, with its snapshot directory in
// cfg.DBPath/snap, and connects it to the network.
func (s *NodeSimulator) RunStore(cfg *config.Config, engines *engine_util.Engines, ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	system, router := raftstore.CreateRaftstore(cfg)
	snapMgr := snap.NewSnapManager(filepath.Join(cfg.DBPath, "snap"))
	if err := snapMgr.Init(); err != nil {
		return err
	}
	node := raftstore.NewNode(system, cfg, &crashAwareScheduler{Client: s.schedulerClient, dead: s.trans.crashes.isDead})
	if err := node.Start(ctx, engines, s.trans, snapMgr); err != nil {
		return err
	}
	storeID := node.GetStoreID()
	if _, running := s.nodes[storeID]; running {
		node.Stop()
		return fmt.Errorf("store %d is already running", storeID)
	}
	s.nodes[storeID] = node
	s.routers[storeID] = router
	s.waitMu.Lock()
	s.incarnation[storeID]++
	s.waitMu.Unlock()
	s.trans.WatchEngines(storeID, engines)
	s.trans.AddStore(storeID, router, snapMgr)
	return nil
}

// StopStore disconnects a store and stops its node.
func (s *NodeSimulator) StopStore(storeID uint64) {
	if !s.stopIfRunning(storeID) {
		failNow("stop store %d: it is not running", storeID)
	}
}

// stopIfRunning stops a store if it runs, and tells whether it did.
func (s *NodeSimulator) stopIfRunning(storeID uint64) bool {
	s.mu.Lock()
	node := s.nodes[storeID]
	delete(s.nodes, storeID)
	delete(s.routers, storeID)
	s.mu.Unlock()
	if node == nil {
		return false
	}
	s.trans.RemoveStore(storeID)
	node.Stop()
	return true
}

// stopAll stops every store and the network; delayed messages are dropped
// and late answers discarded. Crashes still armed are dropped, and the
// stop of the stores that crashed is waited for.
func (s *NodeSimulator) stopAll() {
	s.trans.crashes.disarm()
	s.trans.crashes.waitStopped()
	for _, id := range s.GetStoreIds() {
		s.stopIfRunning(id)
	}
	s.trans.close()
	s.trans.crashes.waitStopped()
	close(s.shutdown)
	s.late.Wait()
}

// AddFilter adds a filter to the network.
func (s *NodeSimulator) AddFilter(filter Filter) { s.trans.AddFilter(filter) }

// ClearFilters removes every filter.
func (s *NodeSimulator) ClearFilters() { s.trans.ClearFilters() }

// GetStoreIds lists the running stores in increasing order.
func (s *NodeSimulator) GetStoreIds() []uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([]uint64, 0, len(s.nodes))
	for id := range s.nodes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// CallCommandOnStore proposes request on a store and waits for the answer.
func (s *NodeSimulator) CallCommandOnStore(storeID uint64, request *raft_cmdpb.RaftCmdRequest, timeout time.Duration) (*raft_cmdpb.RaftCmdResponse, *badger.Txn) {
	resp, txn, _ := s.callCommandOnStore(storeID, request, timeout)
	return resp, txn
}

// callCommandOnStore is CallCommandOnStore that also tells whether the
// command reached the store (and so may take effect even without answer).
func (s *NodeSimulator) callCommandOnStore(storeID uint64, request *raft_cmdpb.RaftCmdRequest, timeout time.Duration) (*raft_cmdpb.RaftCmdResponse, *badger.Txn, bool) {
	s.mu.RLock()
	router := s.routers[storeID]
	s.mu.RUnlock()
	if router == nil {
		return nil, nil, false
	}
	cb := message.NewCallback()
	s.waitMu.Lock()
	incarnation := s.incarnation[storeID]
	s.waiting[cb] = sentCommand{storeID: storeID, incarnation: incarnation, at: time.Now(), request: request}
	s.waitMu.Unlock()
	if err := router.SendRaftCommand(request, cb); err != nil {
		s.answered(cb)
		return nil, nil, false
	}
	resp := cb.WaitRespWithTimeout(timeout)
	if resp == nil {
		s.discardLateAnswer(cb)
		return nil, nil, true
	}
	s.answered(cb)
	if s.answerLost(storeID, incarnation) {
		// The store crashed before the answer was taken: a dead process
		// answers nobody, and the answer may rest on dropped writes.
		discardTxn(cb.Txn)
		return nil, nil, true
	}
	if resp.GetHeader().GetError() != nil && s.stoppedSince(storeID, incarnation) {
		// A store that stops answers every command it still holds with
		// RegionNotFound, also those already proposed, which the other
		// stores may commit and apply: the answer tells nothing of the
		// outcome (seen as a put applied twice in
		// TestClusterSnapshotRecoverManyClients2C, seed 1796131551973071260).
		return nil, nil, true
	}
	return resp, cb.Txn, true
}

// stoppedSince tells whether the store stopped (or restarted) since the
// incarnation a command was sent to.
func (s *NodeSimulator) stoppedSince(storeID uint64, incarnation int) bool {
	s.mu.RLock()
	running := s.nodes[storeID] != nil
	s.mu.RUnlock()
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	return !running || s.incarnation[storeID] != incarnation
}

func (s *NodeSimulator) answered(cb *message.Callback) {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	delete(s.waiting, cb)
}

// unanswered lists the commands that a store still running in the same
// incarnation has not answered.
func (s *NodeSimulator) unanswered() []sentCommand {
	running := make(map[uint64]bool)
	for _, id := range s.GetStoreIds() {
		running[id] = true
	}
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	var out []sentCommand
	for _, c := range s.waiting {
		if s.incarnation[c.storeID] == c.incarnation && running[c.storeID] {
			out = append(out, c)
		}
	}
	return out
}

func describeCommand(req *raft_cmdpb.RaftCmdRequest) string {
	if req.AdminRequest != nil {
		return fmt.Sprintf("admin %v for region %d", req.AdminRequest.CmdType, req.GetHeader().GetRegionId())
	}
	var types []string
	for _, r := range req.Requests {
		types = append(types, r.CmdType.String())
	}
	return fmt.Sprintf("%v for region %d", types, req.GetHeader().GetRegionId())
}

// discardLateAnswer waits in the background for an answer nobody waits for
// any more, to discard its read transaction.
func (s *NodeSimulator) discardLateAnswer(cb *message.Callback) {
	s.late.Add(1)
	go func() {
		defer s.late.Done()
		for {
			if resp := cb.WaitRespWithTimeout(50 * time.Millisecond); resp != nil {
				s.answered(cb)
				if cb.Txn != nil {
					cb.Txn.Discard()
				}
				return
			}
			select {
			case <-s.shutdown:
				return
			default:
			}
		}
	}()
}

// node returns the running node of storeID, or nil.
func (s *NodeSimulator) node(storeID uint64) *raftstore.Node {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nodes[storeID]
}
