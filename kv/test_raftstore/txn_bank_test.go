package test_raftstore

import (
	"fmt"

	"github.com/Connor1996/badger"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/kv/storage/raft_storage"
	"github.com/tinykv-lab/tinykv/kv/transaction/txntest"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

// clusterStorage is a storage.Storage over a test cluster of one region:
// each call goes to the region's leader once. A call that fails, or gets no
// answer in time, returns a region error, and the transactional client
// sends the whole request again; the storage itself never repeats a write
// (a repeated write could land after a later one).
type clusterStorage struct {
	c       *Cluster
	timeout time.Duration
}

func (s *clusterStorage) Start() error { return nil }
func (s *clusterStorage) Stop() error  { return nil }

// call sends reqs to the leader of the region and returns its answer and,
// for a Snap, the read transaction (the caller discards it).
func (s *clusterStorage) call(reqs []*raft_cmdpb.Request) (*raft_cmdpb.RaftCmdResponse, *badger.Txn, error) {
	region := s.c.GetRegion(nil)
	leader := s.c.LeaderOfRegion(region.Id)
	if leader == nil {
		return nil, nil, retryLater("no leader known for region %d", region.Id)
	}
	req := NewRequest(region.Id, region.RegionEpoch, reqs)
	req.Header.Peer = leader
	resp, txn := s.c.simulator.CallCommandOnStore(leader.StoreId, &req, s.timeout)
	if resp == nil {
		return nil, nil, retryLater("no answer from store %d in %v", leader.StoreId, s.timeout)
	}
	if err := resp.GetHeader().GetError(); err != nil {
		discardTxn(txn)
		return nil, nil, &raft_storage.RegionError{RequestErr: err}
	}
	return resp, txn, nil
}

func retryLater(format string, args ...interface{}) error {
	return &raft_storage.RegionError{RequestErr: &errorpb.Error{
		Message:      fmt.Sprintf(format, args...),
		StaleCommand: &errorpb.StaleCommand{},
	}}
}

func (s *clusterStorage) Write(_ *kvrpcpb.Context, batch []storage.Modify) error {
	var reqs []*raft_cmdpb.Request
	for _, m := range batch {
		switch data := m.Data.(type) {
		case storage.Put:
			reqs = append(reqs, &raft_cmdpb.Request{CmdType: raft_cmdpb.CmdType_Put,
				Put: &raft_cmdpb.PutRequest{Cf: data.Cf, Key: data.Key, Value: data.Value}})
		case storage.Delete:
			reqs = append(reqs, &raft_cmdpb.Request{CmdType: raft_cmdpb.CmdType_Delete,
				Delete: &raft_cmdpb.DeleteRequest{Cf: data.Cf, Key: data.Key}})
		}
	}
	_, txn, err := s.call(reqs)
	discardTxn(txn)
	return err
}

func (s *clusterStorage) Reader(_ *kvrpcpb.Context) (storage.StorageReader, error) {
	resp, txn, err := s.call([]*raft_cmdpb.Request{{CmdType: raft_cmdpb.CmdType_Snap, Snap: &raft_cmdpb.SnapRequest{}}})
	if err != nil {
		return nil, err
	}
	if txn == nil || len(resp.Responses) != 1 || resp.Responses[0].Snap == nil {
		discardTxn(txn)
		return nil, retryLater("snap command answered without a read transaction")
	}
	return raft_storage.NewRegionReader(txn, *resp.Responses[0].Snap.Region), nil
}

// TestBankOverRaftCluster runs the transactional bank workload (Percolator
// over the raft store) on three stores with an unreliable network: every
// snapshot read must see the opening total, every transfer a client saw
// commit must be in the final balances.
func TestBankOverRaftCluster(t *testing.T) {
	cluster := NewTestCluster(3, config.NewTestConfig())
	cluster.name = t.Name()
	cluster.Start()
	defer cluster.Shutdown()
	cluster.AddFilter(&DropFilter{})

	store := &clusterStorage{c: cluster, timeout: time.Second}
	report, err := txntest.RunBank(store, txntest.BankConfig{Seed: cluster.seed, Clients: 4, Transfers: 25})
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Logf("bank over raft: %v", report)
	if report.Committed == 0 {
		t.Fatalf("no transfer committed: %v", report)
	}
}
