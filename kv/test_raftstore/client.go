package test_raftstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

const (
	// defaultRequestTimeout bounds one MustPut, MustGet, Scan ...: it
	// retries through elections, partitions and restarts until then.
	defaultRequestTimeout = 30 * time.Second
	// attemptTimeout bounds one command sent to one store.
	attemptTimeout = time.Second
	// leaderWaitTimeout bounds LeaderOfRegion's wait for a leader report.
	leaderWaitTimeout = 5 * time.Second
	// regionWaitTimeout bounds GetRegion's wait for a region covering a key
	// (after a split the new region is unknown until its first heartbeat).
	regionWaitTimeout = 2 * time.Second
	// peerWaitTimeout bounds MustAddPeer, MustRemovePeer, MustTransferLeader.
	peerWaitTimeout = 10 * time.Second
)

// cmdResult is a successful answer to a command sent with retries.
type cmdResult struct {
	resp *raft_cmdpb.RaftCmdResponse
	txn  *badger.Txn
	// unanswered counts the earlier tries that reached a store and got no
	// answer in time: each may still take effect later.
	unanswered int
}

// requestError says why a command sent with retries failed.
type requestError struct {
	key      []byte
	region   *metapb.Region
	target   *metapb.Peer
	attempts int
	elapsed  time.Duration
	last     string
}

func (e *requestError) Error() string {
	return fmt.Sprintf("request for key %q got no successful answer in %v (%d attempts); region %v; last target %v; last error: %s",
		e.key, e.elapsed.Round(time.Millisecond), e.attempts, e.region, e.target, e.last)
}

// commandCaller is implemented by simulators that can tell whether a
// command reached a store.
type commandCaller interface {
	callCommandOnStore(storeID uint64, req *raft_cmdpb.RaftCmdRequest, timeout time.Duration) (*raft_cmdpb.RaftCmdResponse, *badger.Txn, bool)
}

func (c *Cluster) callOnStore(storeID uint64, req *raft_cmdpb.RaftCmdRequest, timeout time.Duration) (*raft_cmdpb.RaftCmdResponse, *badger.Txn, bool) {
	if caller, ok := c.simulator.(commandCaller); ok {
		return caller.callCommandOnStore(storeID, req, timeout)
	}
	resp, txn := c.simulator.CallCommandOnStore(storeID, req, timeout)
	return resp, txn, true
}

// Request sends reqs for key to the leader of key's region, retrying on
// region errors and timeouts, and fails the test when no attempt succeeds
// within timeout. For a Snap command the caller discards the returned txn.
func (c *Cluster) Request(key []byte, reqs []*raft_cmdpb.Request, timeout time.Duration) (*raft_cmdpb.RaftCmdResponse, *badger.Txn) {
	res, err := c.request(key, reqs, timeout)
	if err != nil {
		failNow("cluster %s: %v", c.label(), err)
	}
	return res.resp, res.txn
}

// request sends reqs for key until a leader answers without error.
func (c *Cluster) request(key []byte, reqs []*raft_cmdpb.Request, timeout time.Duration) (*cmdResult, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	rerr := &requestError{key: key, last: "no attempt made"}
	res := &cmdResult{}
	finder := newLeaderFinder()
	for {
		if c.stopped.Load() {
			rerr.last = "the cluster was shut down"
			break
		}
		c.checkScheduler()
		if !time.Now().Before(deadline) {
			break
		}
		region, leader, _ := c.schedulerClient.GetRegion(context.Background(), key)
		if region == nil || len(region.Peers) == 0 {
			rerr.last = "the scheduler knows no region for the key"
			time.Sleep(20 * time.Millisecond)
			continue
		}
		rerr.region = region
		target := finder.pick(region, leader)
		rerr.target = target
		rerr.attempts++
		req := NewRequest(region.Id, region.RegionEpoch, reqs)
		req.Header.Peer = target
		resp, txn, sent := c.callOnStore(target.StoreId, &req, minDuration(attemptTimeout, time.Until(deadline)))
		if resp == nil {
			if sent {
				res.unanswered++
				rerr.last = fmt.Sprintf("no answer from store %d within %v", target.StoreId, attemptTimeout)
			} else {
				rerr.last = fmt.Sprintf("store %d is not running", target.StoreId)
				time.Sleep(10 * time.Millisecond)
			}
			finder.noAnswer(region)
			continue
		}
		regionErr := resp.GetHeader().GetError()
		if regionErr == nil {
			res.resp, res.txn = resp, txn
			return res, nil
		}
		discardTxn(txn)
		rerr.last = describeRegionError(regionErr)
		finder.afterError(region, regionErr)
	}
	rerr.elapsed = time.Since(start)
	return nil, rerr
}

// silenceMemory is how long a peer that did not answer is passed over.
const silenceMemory = 3 * time.Second

// leaderFinder picks the peer to send a command to, learning from each try.
// It follows leader hints, but not towards a peer that has just failed to
// answer: a leader cut off from its majority still calls itself leader, and
// the followers cut off with it point at it. Otherwise it visits the peers
// in turn.
type leaderFinder struct {
	target *metapb.Peer
	silent map[uint64]time.Time // peer id -> when it last failed to answer
}

func newLeaderFinder() *leaderFinder {
	return &leaderFinder{silent: make(map[uint64]time.Time)}
}

func (f *leaderFinder) isSilent(peer *metapb.Peer) bool {
	at, ok := f.silent[peer.Id]
	return ok && time.Since(at) < silenceMemory
}

// pick keeps the current target while it is a peer of region, else takes
// the reported leader, else the next peer that answers.
func (f *leaderFinder) pick(region *metapb.Region, leader *metapb.Peer) *metapb.Peer {
	switch {
	case f.target != nil && isPeerOf(region, f.target):
	case leader != nil && isPeerOf(region, leader) && !f.isSilent(leader):
		f.target = leader
	default:
		f.target = f.next(region)
	}
	return f.target
}

// next is the first peer after the target, in the region's order, that has
// not just failed to answer; when all have, the one after the target.
func (f *leaderFinder) next(region *metapb.Region) *metapb.Peer {
	start := 0
	if f.target != nil {
		for i, p := range region.Peers {
			if p.Id == f.target.Id {
				start = i + 1
			}
		}
	}
	n := len(region.Peers)
	for i := 0; i < n; i++ {
		if p := region.Peers[(start+i)%n]; !f.isSilent(p) {
			return p
		}
	}
	return region.Peers[start%n]
}

// noAnswer moves on from a target that gave no answer.
func (f *leaderFinder) noAnswer(region *metapb.Region) {
	f.silent[f.target.Id] = time.Now()
	f.target = f.next(region)
}

// afterError picks the target after a region error, and waits a little
// when the error says the cluster is still settling.
func (f *leaderFinder) afterError(region *metapb.Region, err *errorpb.Error) {
	switch {
	case err.GetNotLeader() != nil:
		if hint := err.GetNotLeader().GetLeader(); hint != nil && hint.Id != f.target.Id && isPeerOf(region, hint) && !f.isSilent(hint) {
			f.target = hint
			return
		}
		// No leader known, or only one that does not answer: an election
		// is under way.
		time.Sleep(50 * time.Millisecond)
		f.target = f.next(region)
	case err.GetStaleCommand() != nil:
		time.Sleep(20 * time.Millisecond)
	case err.GetRegionNotFound() != nil, err.GetStoreNotMatch() != nil:
		time.Sleep(20 * time.Millisecond)
		f.target = f.next(region)
	default:
		// EpochNotMatch, KeyNotInRegion: the scheduler's view of the region
		// is behind; it catches up with the next heartbeat.
		time.Sleep(50 * time.Millisecond)
	}
}

func isPeerOf(region *metapb.Region, peer *metapb.Peer) bool {
	p := FindPeer(region, peer.StoreId)
	return p != nil && p.Id == peer.Id
}

func describeRegionError(err *errorpb.Error) string {
	switch {
	case err.GetNotLeader() != nil:
		return fmt.Sprintf("not leader (leader hint %v)", err.GetNotLeader().GetLeader())
	case err.GetStaleCommand() != nil:
		return "stale command"
	case err.GetEpochNotMatch() != nil:
		return fmt.Sprintf("epoch not match (current regions %v)", err.GetEpochNotMatch().GetCurrentRegions())
	case err.GetKeyNotInRegion() != nil:
		return fmt.Sprintf("key not in region %d", err.GetKeyNotInRegion().GetRegionId())
	case err.GetRegionNotFound() != nil:
		return fmt.Sprintf("region %d not found", err.GetRegionNotFound().GetRegionId())
	case err.GetStoreNotMatch() != nil:
		return "store not match"
	}
	return fmt.Sprintf("error %q", err.GetMessage())
}

func discardTxn(txn *badger.Txn) {
	if txn != nil {
		txn.Discard()
	}
}

func minDuration(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// CallCommand sends request to the peer in its header and waits at most
// timeout; nil means no answer.
func (c *Cluster) CallCommand(request *raft_cmdpb.RaftCmdRequest, timeout time.Duration) (*raft_cmdpb.RaftCmdResponse, *badger.Txn) {
	storeID := request.GetHeader().GetPeer().GetStoreId()
	return c.simulator.CallCommandOnStore(storeID, request, timeout)
}

// CallCommandOnLeader sends request to its region's leader, following
// leader hints and retrying on not-leader, stale-command and epoch errors
// until timeout. It returns the first other answer (errors included), or
// nil when none came in time.
func (c *Cluster) CallCommandOnLeader(request *raft_cmdpb.RaftCmdRequest, timeout time.Duration) (*raft_cmdpb.RaftCmdResponse, *badger.Txn) {
	if request.GetHeader() == nil {
		failNow("cluster %s: CallCommandOnLeader: the request has no header (build it with NewRequest)", c.label())
	}
	deadline := time.Now().Add(timeout)
	regionID := request.Header.RegionId
	finder := newLeaderFinder()
	for time.Now().Before(deadline) && !c.stopped.Load() {
		region, leader, _ := c.schedulerClient.GetRegionByID(context.Background(), regionID)
		if region == nil || len(region.Peers) == 0 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		target := finder.pick(region, leader)
		request.Header.Peer = target
		resp, txn, _ := c.callOnStore(target.StoreId, request, minDuration(attemptTimeout, time.Until(deadline)))
		if resp == nil {
			finder.noAnswer(region)
			continue
		}
		regionErr := resp.GetHeader().GetError()
		if regionErr == nil || !retryableOnLeader(regionErr) {
			return resp, txn
		}
		discardTxn(txn)
		finder.afterError(region, regionErr)
	}
	return nil, nil
}

func retryableOnLeader(err *errorpb.Error) bool {
	return err.GetNotLeader() != nil || err.GetStaleCommand() != nil || err.GetEpochNotMatch() != nil
}

// LeaderOfRegion is the region's leader as last reported to the scheduler,
// waiting for a report when there is none yet; nil if none comes.
func (c *Cluster) LeaderOfRegion(regionID uint64) *metapb.Peer {
	deadline := time.Now().Add(leaderWaitTimeout)
	for {
		_, leader, _ := c.schedulerClient.GetRegionByID(context.Background(), regionID)
		if leader != nil {
			return leader
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// GetRegion is the region containing key as the scheduler knows it.
func (c *Cluster) GetRegion(key []byte) *metapb.Region {
	deadline := time.Now().Add(regionWaitTimeout)
	for {
		region, _, _ := c.schedulerClient.GetRegion(context.Background(), key)
		if region != nil {
			return region
		}
		if time.Now().After(deadline) {
			failNow("cluster %s: the scheduler knows no region containing key %q after %v", c.label(), key, regionWaitTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// GetRandomRegion is a region picked at random among those the scheduler knows.
func (c *Cluster) GetRandomRegion() *metapb.Region {
	ids := c.schedulerClient.regionIDs()
	if len(ids) == 0 {
		failNow("cluster %s: the scheduler knows no region", c.label())
	}
	region, _, _ := c.schedulerClient.GetRegionByID(context.Background(), ids[c.rng.Intn(len(ids))])
	return region
}

// GetStoreIdsOfRegion lists the stores that hold a peer of the region.
func (c *Cluster) GetStoreIdsOfRegion(regionID uint64) []uint64 {
	region, _, _ := c.schedulerClient.GetRegionByID(context.Background(), regionID)
	if region == nil {
		failNow("cluster %s: the scheduler knows no region %d", c.label(), regionID)
	}
	ids := make([]uint64, 0, len(region.Peers))
	for _, p := range region.Peers {
		ids = append(ids, p.StoreId)
	}
	return ids
}

// AllocPeer is a new peer on storeID with a fresh id.
func (c *Cluster) AllocPeer(storeID uint64) *metapb.Peer {
	id, err := c.schedulerClient.AllocID(context.Background())
	if err != nil {
		failNow("cluster %s: allocate a peer id: %v", c.label(), err)
	}
	return NewPeer(storeID, id)
}

// mustRequest sends one request and checks the answer's shape.
func (c *Cluster) mustRequest(key []byte, req *raft_cmdpb.Request) (*raft_cmdpb.Response, *badger.Txn) {
	res, err := c.request(key, []*raft_cmdpb.Request{req}, c.requestTimeout)
	if err != nil {
		failNow("cluster %s: %v %v", c.label(), req.CmdType, err)
	}
	if n := len(res.resp.Responses); n != 1 || res.resp.Responses[0].CmdType != req.CmdType {
		discardTxn(res.txn)
		failNow("cluster %s: %v of key %q: want one %v response, got %v", c.label(), req.CmdType, key, req.CmdType, res.resp)
	}
	return res.resp.Responses[0], res.txn
}

// MustPut writes key = value (default column family) through the leader.
func (c *Cluster) MustPut(key, value []byte) {
	c.MustPutCF(engine_util.CfDefault, key, value)
}

// MustPutCF writes key = value in column family cf through the leader.
func (c *Cluster) MustPutCF(cf string, key, value []byte) {
	c.mustRequest(key, NewPutCfCmd(cf, key, value))
}

// Get reads key (default column family) through the leader; a missing key
// reads as nil.
func (c *Cluster) Get(key []byte) []byte {
	return c.GetCF(engine_util.CfDefault, key)
}

// GetCF reads key of column family cf through the leader.
func (c *Cluster) GetCF(cf string, key []byte) []byte {
	resp, _ := c.mustRequest(key, NewGetCfCmd(cf, key))
	if resp.Get == nil {
		failNow("cluster %s: get of key %q answered without a value part: %v", c.label(), key, resp)
	}
	return resp.Get.Value
}

// MustGet checks that key (default column family) reads as value.
func (c *Cluster) MustGet(key []byte, value []byte) {
	c.MustGetCF(engine_util.CfDefault, key, value)
}

// MustGetCF checks that key of column family cf reads as value.
func (c *Cluster) MustGetCF(cf string, key []byte, value []byte) {
	if got := c.GetCF(cf, key); !bytes.Equal(got, value) {
		failNow("cluster %s: key %q of cf %s: want %q, got %q", c.label(), key, cf, value, got)
	}
}

// MustDelete deletes key (default column family) through the leader.
func (c *Cluster) MustDelete(key []byte) {
	c.MustDeleteCF(engine_util.CfDefault, key)
}

// MustDeleteCF deletes key of column family cf through the leader.
func (c *Cluster) MustDeleteCF(cf string, key []byte) {
	c.mustRequest(key, NewDeleteCfCmd(cf, key))
}

// Scan returns the values of the default column family for the keys in
// [start, end), in key order, walking every region of the range; an empty
// end is the end of the key space.
func (c *Cluster) Scan(start, end []byte) [][]byte {
	pairs, err := c.scanPairs(engine_util.CfDefault, start, end, c.requestTimeout)
	if err != nil {
		failNow("cluster %s: scan [%q, %q): %v", c.label(), start, end, err)
	}
	values := make([][]byte, 0, len(pairs))
	for _, kv := range pairs {
		values = append(values, kv.value)
	}
	return values
}

type kvPair struct {
	key, value []byte
}

// scanPairs reads [start, end) of column family cf region by region, each
// through a Snap command on the region's leader.
func (c *Cluster) scanPairs(cf string, start, end []byte, timeout time.Duration) ([]kvPair, error) {
	pairs, _, err := c.scanRegions(cf, start, end, timeout)
	return pairs, err
}

// scanRegions is scanPairs that also counts the regions it read.
func (c *Cluster) scanRegions(cf string, start, end []byte, timeout time.Duration) ([]kvPair, int, error) {
	var pairs []kvPair
	key := start
	for regions := 1; ; regions++ {
		res, err := c.request(key, []*raft_cmdpb.Request{NewSnapCmd()}, timeout)
		if err != nil {
			return nil, regions, err
		}
		resps := res.resp.Responses
		if len(resps) != 1 || resps[0].CmdType != raft_cmdpb.CmdType_Snap || resps[0].Snap.GetRegion() == nil || res.txn == nil {
			discardTxn(res.txn)
			return nil, regions, fmt.Errorf("snap of key %q: want one snap response with a region and a read transaction, got %v (txn %v)",
				key, res.resp, res.txn != nil)
		}
		region := resps[0].Snap.Region
		if err := checkKeyInRange(key, region); err != nil {
			res.txn.Discard()
			return nil, regions, fmt.Errorf("snap of key %q: %v", key, err)
		}
		pairs, err = appendRegionPairs(pairs, res.txn, cf, region, key, end)
		res.txn.Discard()
		if err != nil {
			return nil, regions, err
		}
		if len(region.EndKey) == 0 || (len(end) > 0 && bytes.Compare(region.EndKey, end) >= 0) {
			return pairs, regions, nil
		}
		key = region.EndKey
	}
}

// checkKeyInRange checks that the region a Snap answered with holds the
// key the Snap was sent for.
func checkKeyInRange(key []byte, region *metapb.Region) error {
	if bytes.Compare(key, region.StartKey) < 0 || engineKeyBeyond(key, region.EndKey) {
		return fmt.Errorf("answered with region %d [%q, %q) %v, which does not hold the key",
			region.Id, region.StartKey, region.EndKey, region.RegionEpoch)
	}
	return nil
}

// appendRegionPairs adds the pairs of cf in [from, end) ∩ region.
func appendRegionPairs(pairs []kvPair, txn *badger.Txn, cf string, region *metapb.Region, from, end []byte) ([]kvPair, error) {
	if bytes.Compare(from, region.StartKey) < 0 {
		from = region.StartKey
	}
	it := engine_util.NewCFIterator(cf, txn)
	defer it.Close()
	for it.Seek(from); it.Valid(); it.Next() {
		item := it.Item()
		if engineKeyBeyond(item.Key(), end) || engineKeyBeyond(item.Key(), region.EndKey) {
			break
		}
		value, err := item.ValueCopy(nil)
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, kvPair{key: item.KeyCopy(nil), value: value})
	}
	return pairs, nil
}
