package test_raftstore

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/snap"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// Tests of the mock network: filters and transport, without a raftstore.

func raftMsg(from, to uint64, index uint64) *raft_serverpb.RaftMessage {
	return &raft_serverpb.RaftMessage{
		RegionId:    1,
		FromPeer:    NewPeer(from, from),
		ToPeer:      NewPeer(to, to),
		Message:     &eraftpb.Message{MsgType: eraftpb.MessageType_MsgAppend, Index: index},
		RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
	}
}

func TestPartitionFilterCutsBothWays(t *testing.T) {
	f := NewPartitionFilter([]uint64{1, 2}, []uint64{3, 4})
	cases := []struct {
		from, to uint64
		deliver  bool
	}{
		{1, 2, true}, {3, 4, true}, {1, 3, false}, {4, 2, false}, {1, 5, true}, {5, 3, true},
	}
	for _, c := range cases {
		if got := f.Before(raftMsg(c.from, c.to, 0)); got != c.deliver {
			t.Errorf("%v: message %d -> %d: deliver = %v, want %v", f, c.from, c.to, got, c.deliver)
		}
	}
}

// dropRate sends n messages through f and returns the share it dropped.
func dropRate(f Filter, n int) float64 {
	dropped := 0
	for i := 0; i < n; i++ {
		if !f.Before(raftMsg(1, 2, uint64(i))) {
			dropped++
		}
	}
	return float64(dropped) / float64(n)
}

func TestDropFiltersDropTheirShare(t *testing.T) {
	const n = 20000
	rng := newLockedRand(42)
	drop := &DropFilter{}
	drop.setRand(rng)
	if rate := dropRate(drop, n); math.Abs(rate-dropFilterRate) > 0.02 {
		t.Errorf("DropFilter dropped %.3f of the messages, want about %.2f", rate, dropFilterRate)
	}
	if rate := dropRate(&DropFilter{}, n); math.Abs(rate-dropFilterRate) > 0.02 {
		t.Errorf("a DropFilter outside a cluster dropped %.3f of the messages, want about %.2f", rate, dropFilterRate)
	}
	for _, fraction := range []float64{0, 0.3, 1} {
		f := &DropFractionFilter{Fraction: fraction}
		f.setRand(rng)
		if rate := dropRate(f, n); math.Abs(rate-fraction) > 0.02 {
			t.Errorf("DropFractionFilter{%v} dropped %.3f of the messages", fraction, rate)
		}
	}
	for _, bad := range []float64{-0.1, 1.5} {
		if err := (&DropFractionFilter{Fraction: bad}).validate(); err == nil {
			t.Errorf("DropFractionFilter{%v} should be refused", bad)
		}
	}
	if err := (&DelayFilter{MaxDelay: -time.Second}).validate(); err == nil {
		t.Errorf("a negative DelayFilter.MaxDelay should be refused")
	}
}

func TestSameSeedSameDrops(t *testing.T) {
	decisions := func() string {
		f := &DropFilter{}
		f.setRand(newLockedRand(7))
		var b strings.Builder
		for i := 0; i < 200; i++ {
			fmt.Fprint(&b, f.Before(raftMsg(1, 2, uint64(i))))
		}
		return b.String()
	}
	if decisions() != decisions() {
		t.Fatalf("two drop filters seeded alike made different choices")
	}
}

// recordingRouter is a store's router that records the raft messages it gets.
type recordingRouter struct {
	mu   sync.Mutex
	msgs []*raft_serverpb.RaftMessage
}

func (r *recordingRouter) Send(regionID uint64, msg message.Msg) error { return nil }

func (r *recordingRouter) SendRaftMessage(msg *raft_serverpb.RaftMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msg)
	return nil
}

func (r *recordingRouter) SendRaftCommand(req *raft_cmdpb.RaftCmdRequest, cb *message.Callback) error {
	return nil
}

func (r *recordingRouter) received() []*raft_serverpb.RaftMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*raft_serverpb.RaftMessage(nil), r.msgs...)
}

func TestMockTransportDeliversFiltersAndCounts(t *testing.T) {
	trans := NewMockTransport()
	router := &recordingRouter{}
	trans.AddStore(2, router, nil)

	if err := trans.Send(raftMsg(1, 2, 1)); err != nil {
		t.Fatalf("send to a running store: %v", err)
	}
	trans.AddFilter(NewPartitionFilter([]uint64{1}, []uint64{2}))
	if err := trans.Send(raftMsg(1, 2, 2)); err != nil {
		t.Fatalf("a message dropped by a filter is lost silently, got error %v", err)
	}
	trans.ClearFilters()
	if err := trans.Send(raftMsg(1, 3, 3)); err == nil {
		t.Fatalf("send to store 3, which is not running, should fail")
	}
	if got := router.received(); len(got) != 1 || got[0].Message.Index != 1 {
		t.Fatalf("store 2 should have received only message 1, got %v", got)
	}
	s := &trans.stats
	if s.sent.Load() != 3 || s.delivered.Load() != 1 || s.dropped.Load() != 1 {
		t.Fatalf("stats: sent %d delivered %d dropped %d, want 3, 1, 1", s.sent.Load(), s.delivered.Load(), s.dropped.Load())
	}
	if line := trans.summary(); !strings.Contains(line, "messages=1 ") || !strings.Contains(line, "dropped=1 ") {
		t.Fatalf("summary %q does not report 1 message and 1 drop", line)
	}
}

func TestMockTransportDelaysAndReorders(t *testing.T) {
	trans := NewMockTransport()
	router := &recordingRouter{}
	trans.AddStore(2, router, nil)
	delay := &DelayFilter{MaxDelay: 30 * time.Millisecond}
	delay.setRand(newLockedRand(3))
	trans.AddFilter(delay)
	const n = 50
	for i := 1; i <= n; i++ {
		if err := trans.Send(raftMsg(1, 2, uint64(i))); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(router.received()) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	got := router.received()
	if len(got) != n {
		t.Fatalf("%d of %d delayed messages arrived", len(got), n)
	}
	inOrder := true
	for i := 1; i < n; i++ {
		if got[i].Message.Index < got[i-1].Message.Index {
			inOrder = false
		}
	}
	if inOrder {
		t.Fatalf("50 messages delayed by random times up to 30ms all arrived in order")
	}

	// Messages still delayed at close are never delivered.
	for i := 1; i <= 10; i++ {
		_ = trans.Send(raftMsg(1, 2, uint64(100+i)))
	}
	trans.close()
	if late := len(router.received()) - n; late == 10 {
		t.Fatalf("every message delayed at close was still delivered")
	}
}

// TestMockTransportCarriesSnapshotFiles builds a snapshot on store 1 and
// sends its message to store 2: the files must arrive complete.
func TestMockTransportCarriesSnapshotFiles(t *testing.T) {
	dir := t.TempDir()
	db, err := engine_util.CreateDB(filepath.Join(dir, "kv"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := 0; i < 100; i++ {
		if err := engine_util.PutCF(db, engine_util.CfDefault, []byte(fmt.Sprintf("k%03d", i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	region := &metapb.Region{Id: 1, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{NewPeer(1, 1), NewPeer(2, 2)}}
	from, to := snap.NewSnapManager(filepath.Join(dir, "snap1")), snap.NewSnapManager(filepath.Join(dir, "snap2"))
	for _, m := range []*snap.SnapManager{from, to} {
		if err := m.Init(); err != nil {
			t.Fatal(err)
		}
	}
	key := snap.SnapKey{RegionID: 1, Term: 6, Index: 20}
	built, err := from.GetSnapshotForBuilding(key)
	if err != nil {
		t.Fatal(err)
	}
	snapData := &raft_serverpb.RaftSnapshotData{Region: region}
	txn := db.NewTransaction(false)
	err = built.Build(txn, region, snapData, &snap.SnapStatistics{}, from.Deleter())
	txn.Discard()
	built.Close()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	data, err := snapData.Marshal()
	if err != nil {
		t.Fatal(err)
	}

	trans := NewMockTransport()
	router := &recordingRouter{}
	trans.AddStore(1, &recordingRouter{}, from)
	trans.AddStore(2, router, to)
	msg := raftMsg(1, 2, 20)
	msg.Message.MsgType = eraftpb.MessageType_MsgSnapshot
	msg.Message.Snapshot = &eraftpb.Snapshot{Data: data, Metadata: &eraftpb.SnapshotMetadata{Index: 20, Term: 6}}
	if err := trans.Send(msg); err != nil {
		t.Fatalf("send the snapshot: %v", err)
	}
	received, err := to.GetSnapshotForApplying(key)
	if err != nil {
		t.Fatal(err)
	}
	defer received.Close()
	if !received.Exists() {
		t.Fatalf("the snapshot's files did not reach store 2")
	}
	if sent := trans.SnapshotsSentTo(2); sent != 1 || len(router.received()) != 1 {
		t.Fatalf("store 2: %d snapshots counted and %d messages delivered, want 1 and 1", sent, len(router.received()))
	}
	if trans.stats.snapshotBytes.Load() != int64(received.TotalSize()) {
		t.Fatalf("counted %d snapshot bytes, the files hold %d", trans.stats.snapshotBytes.Load(), received.TotalSize())
	}

	// A snapshot the sender no longer has cannot be delivered.
	gone := raftMsg(1, 2, 30)
	gone.Message.MsgType = eraftpb.MessageType_MsgSnapshot
	gone.Message.Snapshot = &eraftpb.Snapshot{Data: data, Metadata: &eraftpb.SnapshotMetadata{Index: 30, Term: 6}}
	if err := trans.Send(gone); err == nil {
		t.Fatalf("a snapshot message whose files do not exist was delivered")
	}
}
