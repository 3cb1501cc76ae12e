package runner

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/kv/util/codec"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// splitTestRouter records what the split checker sends.
type splitTestRouter struct {
	msgs []message.Msg
}

func (r *splitTestRouter) Send(regionID uint64, msg message.Msg) error {
	if regionID != msg.RegionID {
		return fmt.Errorf("message for region %d sent to region %d", msg.RegionID, regionID)
	}
	r.msgs = append(r.msgs, msg)
	return nil
}

func (r *splitTestRouter) SendRaftMessage(*raft_serverpb.RaftMessage) error { return nil }

func (r *splitTestRouter) SendRaftCommand(*raft_cmdpb.RaftCmdRequest, *message.Callback) error {
	return nil
}

func splitPut(t *testing.T, db *badger.DB, cf string, pairs ...[]byte) {
	wb := new(engine_util.WriteBatch)
	for i := 0; i+1 < len(pairs); i += 2 {
		wb.SetCF(cf, pairs[i], pairs[i+1])
	}
	if err := wb.WriteToDB(db); err != nil {
		t.Fatalf("write test data: %v", err)
	}
}

// runSplitCheck checks region with the given sizes and returns the one
// message the checker sent.
func runSplitCheck(t *testing.T, db *badger.DB, region *metapb.Region, maxSize, splitSize uint64) message.Msg {
	router := new(splitTestRouter)
	handler := &splitCheckHandler{engine: db, router: router, checker: newSizeSplitChecker(maxSize, splitSize)}
	handler.Handle(&SplitCheckTask{Region: region})
	if len(router.msgs) != 1 {
		t.Fatalf("expected one message from the split checker, got %d: %+v", len(router.msgs), router.msgs)
	}
	return router.msgs[0]
}

var splitTestEpoch = &metapb.RegionEpoch{ConfVer: 3, Version: 4}

func TestSplitCheckerSplitsAtFirstKeyPastSplitSize(t *testing.T) {
	engines := util.NewTestEngines()
	t.Cleanup(func() { _ = engines.Destroy() })
	// Each pair below weighs 2 (key) + 8 (value) = 10 bytes.
	for i := 0; i < 10; i++ {
		splitPut(t, engines.Kv, engine_util.CfDefault, []byte(fmt.Sprintf("k%d", i)), []byte("12345678"))
	}
	splitPut(t, engines.Kv, engine_util.CfWrite, []byte("k0"), bytes.Repeat([]byte("w"), 1000))
	splitPut(t, engines.Kv, engine_util.CfDefault, []byte("a"), bytes.Repeat([]byte("x"), 1000))

	region := &metapb.Region{Id: 5, StartKey: []byte("k"), EndKey: []byte("l"), RegionEpoch: splitTestEpoch}
	msg := runSplitCheck(t, engines.Kv, region, 55, 25)
	split, ok := msg.Data.(*message.MsgSplitRegion)
	if msg.Type != message.MsgTypeSplitRegion || !ok {
		t.Fatalf("region of 100 bytes, max 55: expected a split request, got %+v", msg)
	}
	if !bytes.Equal(split.SplitKey, []byte("k2")) || split.RegionEpoch != splitTestEpoch {
		t.Errorf("expected split at k2 (total 30 > 25) with epoch %v, got %q with %v", splitTestEpoch, split.SplitKey, split.RegionEpoch)
	}

	msg = runSplitCheck(t, engines.Kv, region, 100, 25)
	if msg.Type != message.MsgTypeRegionApproximateSize || msg.Data != uint64(100) {
		t.Errorf("region of exactly the max size 100: expected approximate size 100, got %+v", msg)
	}
}

func TestSplitCheckerKeepsVersionsOfAKeyTogether(t *testing.T) {
	engines := util.NewTestEngines()
	t.Cleanup(func() { _ = engines.Destroy() })
	versioned := func(key string, ts uint64) []byte {
		encoded := codec.EncodeBytes([]byte(key))
		return binary.BigEndian.AppendUint64(encoded, ^ts)
	}
	value := bytes.Repeat([]byte("v"), 30)
	for _, key := range []string{"a", "b", "c"} {
		for ts := uint64(1); ts <= 3; ts++ {
			splitPut(t, engines.Kv, engine_util.CfDefault, versioned(key, ts), value)
		}
	}
	region := &metapb.Region{Id: 6, RegionEpoch: splitTestEpoch}
	// A version weighs 17 + 30 = 47 bytes: the split size is passed at the
	// second version of "b", whose user key is the split key.
	msg := runSplitCheck(t, engines.Kv, region, 300, 4*47+1)
	split, ok := msg.Data.(*message.MsgSplitRegion)
	if !ok {
		t.Fatalf("expected a split request, got %+v", msg)
	}
	if want := codec.EncodeBytes([]byte("b")); !bytes.Equal(split.SplitKey, want) {
		t.Errorf("expected the split key cut to the user key %x, got %x", want, split.SplitKey)
	}
}

func TestSplitCheckerNeverSplitsAtTheRegionStart(t *testing.T) {
	engines := util.NewTestEngines()
	t.Cleanup(func() { _ = engines.Destroy() })
	start := codec.EncodeBytes([]byte("s"))
	for ts := uint64(1); ts <= 4; ts++ {
		splitPut(t, engines.Kv, engine_util.CfDefault, binary.BigEndian.AppendUint64(append([]byte(nil), start...), ^ts), bytes.Repeat([]byte("v"), 20))
	}
	splitPut(t, engines.Kv, engine_util.CfDefault, codec.EncodeBytes([]byte("t")), bytes.Repeat([]byte("v"), 20))
	region := &metapb.Region{Id: 7, StartKey: start, RegionEpoch: splitTestEpoch}
	msg := runSplitCheck(t, engines.Kv, region, 150, 10)
	split, ok := msg.Data.(*message.MsgSplitRegion)
	if !ok || !bytes.Equal(split.SplitKey, codec.EncodeBytes([]byte("t"))) {
		t.Errorf("versions of the start key fill the split size: expected a split at the next user key, got %+v", msg)
	}
}

func TestNewSplitCheckHandlerTakesSizesFromConfig(t *testing.T) {
	engines := util.NewTestEngines()
	t.Cleanup(func() { _ = engines.Destroy() })
	cfg := config.NewTestConfig()
	cfg.RegionMaxSize, cfg.RegionSplitSize = 300, 200
	h := NewSplitCheckHandler(engines.Kv, new(splitTestRouter), cfg)
	if h.checker.maxSize != cfg.RegionMaxSize || h.checker.splitSize != cfg.RegionSplitSize {
		t.Errorf("expected sizes %d/%d from the config, got %d/%d", cfg.RegionMaxSize, cfg.RegionSplitSize, h.checker.maxSize, h.checker.splitSize)
	}
}
