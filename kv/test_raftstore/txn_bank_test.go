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
// each call goes to the region's leader once. A refused call returns a
// region error, and the transactional client sends the whole request
// again. A write is never repeated and never abandoned: one that gave up
// could still land after later writes. A write without an answer in
// writeTimeout fails the test.
type clusterStorage struct {
	t *testing.T
	c *Cluster
}

const (
	readTimeout  = time.Second
	writeTimeout = 30 * time.Second
)

func (s *clusterStorage) Start() error { return nil }
func (s *clusterStorage) Stop() error  { return nil }

// call sends reqs to the leader of the region. It returns the answer and,
// for a Snap, the read transaction (the caller discards it); a nil answer
// with a nil error means the leader did not answer within timeout.
func (s *clusterStorage) call(reqs []*raft_cmdpb.Request, timeout time.Duration) (*raft_cmdpb.RaftCmdResponse, *badger.Txn, error) {
	region := s.c.GetRegion(nil)
	leader := s.c.LeaderOfRegion(region.Id)
	if leader == nil {
		return nil, nil, retryLater("no leader known for region %d", region.Id)
	}
	req := NewRequest(region.Id, region.RegionEpoch, reqs)
	req.Header.Peer = leader
	resp, txn := s.c.simulator.CallCommandOnStore(leader.StoreId, &req, timeout)
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
	resp, txn, err := s.call(reqs, writeTimeout)
	discardTxn(txn)
	if err == nil && resp == nil {
		s.t.Errorf("a write got no answer in %v: its outcome is unknown", writeTimeout)
		return fmt.Errorf("write outcome unknown after %v", writeTimeout)
	}
	return err
}

func (s *clusterStorage) Reader(_ *kvrpcpb.Context) (storage.StorageReader, error) {
	resp, txn, err := s.call([]*raft_cmdpb.Request{{CmdType: raft_cmdpb.CmdType_Snap, Snap: &raft_cmdpb.SnapRequest{}}}, readTimeout)
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, retryLater("no answer to a read in %v", readTimeout)
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

	store := &clusterStorage{t: t, c: cluster}
	report, err := txntest.RunBank(store, txntest.BankConfig{Seed: cluster.seed, Clients: 4, Transfers: 25})
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Logf("bank over raft: %v", report)
	if report.Committed == 0 {
		t.Fatalf("no transfer committed: %v", report)
	}
}
