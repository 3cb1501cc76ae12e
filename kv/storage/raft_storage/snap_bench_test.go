package raft_storage

import (
	"flag"
	"fmt"
	"math/rand"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/raftstore/runner"
	"github.com/tinykv-lab/tinykv/kv/raftstore/snap"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	rspb "github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

var snapBenchMiB = flag.Int("snap-mib", 256, "size of the region BenchmarkSnapshotTransfer moves, in MiB")

const snapBenchValueSize = 1 << 10

// BenchmarkSnapshotTransfer fills one region with -snap-mib MiB of random
// 1 KiB values over the column families, then generates a snapshot with
// the region worker, streams it over loopback gRPC with the snap runners
// and applies it with the region worker into a fresh engine. It prints
//
//	snapshot: size_mib=256 gen_s=A send_s=B apply_s=C throughput_mb_s=D peak_heap_delta=E
//
// where throughput is the region's size over the three steps' time (MiB/s)
// and peak_heap_delta the peak Go heap in use during them minus the heap
// before them (MiB). Run it once: go test -run '^$' -bench
// BenchmarkSnapshotTransfer -benchtime 1x ./kv/storage/raft_storage.
func BenchmarkSnapshotTransfer(b *testing.B) {
	sizeMiB := *snapBenchMiB
	src, keys := snapBenchSource(b, sizeMiB)
	dsts := make([]*badger.DB, b.N)
	for i := range dsts {
		dsts[i] = srOpenEngine(b)
	}
	srcEngines := &engine_util.Engines{Kv: src, Raft: srOpenEngine(b)}
	sender := newSrStore(b, srConfig(4, 4), false)
	receiver := newSrStore(b, srConfig(4, 4), true)
	b.SetBytes(int64(sizeMiB) << 20)
	b.ResetTimer()

	for i := 0; i < b.N; i++ {
		index := uint64(100 + i)
		snapBenchSetApplied(b, src, index)
		heap := startHeapSampler()
		start := time.Now()
		snapshot := snapBenchGenerate(b, srcEngines, sender.mgr)
		genDone := time.Now()
		if err := srSend(b, sender, receiver.addr, snapBenchMessage(snapshot)); err != nil {
			b.Fatalf("send: %v", err)
		}
		if err := receiver.receiveResult(b); err != nil {
			b.Fatalf("receive: %v", err)
		}
		sendDone := time.Now()
		snapBenchApply(b, dsts[i], receiver.mgr, snapshot.Metadata)
		applyDone := time.Now()
		peakDelta := heap.stop()

		b.StopTimer()
		if got := snapBenchCount(b, dsts[i]); got != keys {
			b.Fatalf("applied engine holds %d keys, expected %d", got, keys)
		}
		total := applyDone.Sub(start).Seconds()
		fmt.Printf("snapshot: size_mib=%d gen_s=%.2f send_s=%.2f apply_s=%.2f throughput_mb_s=%.1f peak_heap_delta=%.1f\n",
			sizeMiB, genDone.Sub(start).Seconds(), sendDone.Sub(genDone).Seconds(), applyDone.Sub(sendDone).Seconds(),
			float64(sizeMiB)/total, float64(peakDelta)/(1<<20))
		b.StartTimer()
	}
}

// snapBenchSource fills a kv engine and reopens it, so that badger has
// flushed and compacted the fill before anything is measured.
func snapBenchSource(b *testing.B, sizeMiB int) (*badger.DB, int) {
	dir := b.TempDir()
	db, err := engine_util.CreateDB(dir, false)
	if err != nil {
		b.Fatalf("open source engine: %v", err)
	}
	keys := snapBenchFill(b, db, sizeMiB)
	if err := db.Close(); err != nil {
		b.Fatalf("close source engine: %v", err)
	}
	if db, err = engine_util.CreateDB(dir, false); err != nil {
		b.Fatalf("reopen source engine: %v", err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db, keys
}

// snapBenchFill writes sizeMiB MiB of random 1 KiB values inside srRegion,
// spread over the column families, and returns the number of keys.
func snapBenchFill(b *testing.B, db *badger.DB, sizeMiB int) int {
	rng := rand.New(rand.NewSource(srSeed(b)))
	n := sizeMiB << 20 / snapBenchValueSize
	wb := new(engine_util.WriteBatch)
	for i := 0; i < n; i++ {
		value := make([]byte, snapBenchValueSize)
		rng.Read(value)
		wb.SetCF(engine_util.CFs[i%len(engine_util.CFs)], []byte(fmt.Sprintf("c%012d", i)), value)
		if wb.Size() >= 1<<20 {
			srWrite(b, db, wb)
		}
	}
	srWrite(b, db, wb)
	return n
}

// snapBenchSetApplied records srRegion as applied (and compacted) up to index.
func snapBenchSetApplied(b *testing.B, db *badger.DB, index uint64) {
	wb := new(engine_util.WriteBatch)
	err := wb.SetMeta(meta.ApplyStateKey(srRegion.Id), &rspb.RaftApplyState{
		AppliedIndex:   index,
		TruncatedState: &rspb.RaftTruncatedState{Index: index, Term: 6},
	})
	if err == nil {
		err = wb.SetMeta(meta.RegionStateKey(srRegion.Id), &rspb.RegionLocalState{Region: srRegion})
	}
	if err == nil {
		err = wb.WriteToDB(db)
	}
	if err != nil {
		b.Fatalf("write region states: %v", err)
	}
}

func snapBenchGenerate(b *testing.B, engines *engine_util.Engines, mgr *snap.SnapManager) *eraftpb.Snapshot {
	notifier := make(chan *eraftpb.Snapshot, 1)
	runner.NewRegionTaskHandler(engines, mgr).Handle(&runner.RegionTaskGen{RegionId: srRegion.Id, Notifier: notifier})
	snapshot := <-notifier
	if snapshot == nil {
		b.Fatalf("generating the snapshot failed")
	}
	return snapshot
}

func snapBenchMessage(snapshot *eraftpb.Snapshot) *rspb.RaftMessage {
	return &rspb.RaftMessage{
		RegionId:    srRegion.Id,
		FromPeer:    srRegion.Peers[0],
		ToPeer:      srRegion.Peers[1],
		RegionEpoch: srRegion.RegionEpoch,
		Message: &eraftpb.Message{
			MsgType:  eraftpb.MessageType_MsgSnapshot,
			From:     srRegion.Peers[0].Id,
			To:       srRegion.Peers[1].Id,
			Term:     snapshot.Metadata.Term,
			Snapshot: snapshot,
		},
	}
}

func snapBenchApply(b *testing.B, db *badger.DB, mgr *snap.SnapManager, md *eraftpb.SnapshotMetadata) {
	notifier := make(chan bool, 1)
	engines := &engine_util.Engines{Kv: db}
	runner.NewRegionTaskHandler(engines, mgr).Handle(&runner.RegionTaskApply{
		RegionId: srRegion.Id, Notifier: notifier, SnapMeta: md, StartKey: srRegion.StartKey, EndKey: srRegion.EndKey,
	})
	if !<-notifier {
		b.Fatalf("applying the snapshot failed")
	}
}

func snapBenchCount(b *testing.B, db *badger.DB) int {
	count := 0
	err := db.View(func(txn *badger.Txn) error {
		for _, cf := range engine_util.CFs {
			it := engine_util.NewCFIterator(cf, txn)
			for it.Seek(nil); it.Valid(); it.Next() {
				count++
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		b.Fatalf("count applied keys: %v", err)
	}
	return count
}

// heapSampler records the peak of the Go heap in use above a baseline.
type heapSampler struct {
	baseline uint64
	peak     atomic.Uint64
	done     chan struct{}
	wg       sync.WaitGroup
}

// heapInUse is the memory of heap spans in use (live and not yet swept
// objects), read without stopping the world.
func heapInUse() uint64 {
	sample := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
	}
	metrics.Read(sample)
	return sample[0].Value.Uint64() + sample[1].Value.Uint64()
}

func startHeapSampler() *heapSampler {
	runtime.GC()
	s := &heapSampler{baseline: heapInUse(), done: make(chan struct{})}
	s.peak.Store(s.baseline)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ticker := time.NewTicker(2 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-ticker.C:
				if v := heapInUse(); v > s.peak.Load() {
					s.peak.Store(v)
				}
			}
		}
	}()
	return s
}

// stop ends sampling and returns the peak above the baseline in bytes.
func (s *heapSampler) stop() uint64 {
	if v := heapInUse(); v > s.peak.Load() {
		s.peak.Store(v)
	}
	close(s.done)
	s.wg.Wait()
	return s.peak.Load() - s.baseline
}
