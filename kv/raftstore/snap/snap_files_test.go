package snap

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Connor1996/badger"
	"github.com/golang/protobuf/proto"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	rspb "github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// sfSeed is the seed of the random data; SNAP_TEST_SEED replays a run.
func sfSeed(t *testing.T) int64 {
	if s := os.Getenv("SNAP_TEST_SEED"); s != "" {
		seed, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("SNAP_TEST_SEED=%q is not a number", s)
		}
		return seed
	}
	return time.Now().UnixNano()
}

// sfOpenStoreEngine opens a badger with the store's own options
// (uncompressed tables), closed when the test ends.
func sfOpenStoreEngine(t *testing.T) *badger.DB {
	db, err := engine_util.CreateDB(t.TempDir(), false)
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// sfOpenCompressingDB opens a badger with badger's default options
// (ZSTD tables, large values in blob files), as course tests do.
func sfOpenCompressingDB(t *testing.T) *badger.DB {
	dir := t.TempDir()
	opts := badger.DefaultOptions
	opts.Dir, opts.ValueDir = dir, dir
	db, err := badger.Open(opts)
	if err != nil {
		t.Fatalf("open badger with default options: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

var sfRegion = &metapb.Region{
	Id:          7,
	StartKey:    []byte("m"),
	EndKey:      []byte("t"),
	RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
	Peers:       []*metapb.Peer{{Id: 8, StoreId: 1}},
}

var sfKey = SnapKey{RegionID: 7, Term: 6, Index: 42}

// sfWriteData fills every column family with random keys, some of
// them outside the region, and returns the pairs inside it as cf/key →
// value.
func sfWriteData(t *testing.T, db *badger.DB, rng *rand.Rand, n int) map[string][]byte {
	inside := make(map[string][]byte)
	wb := new(engine_util.WriteBatch)
	for i := 0; i < n; i++ {
		cf := engine_util.CFs[rng.Intn(len(engine_util.CFs))]
		key := []byte(fmt.Sprintf("%c%06d", "acmnprsxz"[rng.Intn(9)], rng.Intn(1000000)))
		value := make([]byte, rng.Intn(200))
		rng.Read(value)
		wb.SetCF(cf, key, value)
		if bytes.Compare(key, sfRegion.StartKey) >= 0 && bytes.Compare(key, sfRegion.EndKey) < 0 {
			inside[cf+"/"+string(key)] = value
		}
		if wb.Len() == 500 {
			sfMustWrite(t, db, wb)
		}
	}
	sfMustWrite(t, db, wb)
	return inside
}

func sfMustWrite(t *testing.T, db *badger.DB, wb *engine_util.WriteBatch) {
	if err := wb.WriteToDB(db); err != nil {
		t.Fatalf("write test data: %v", err)
	}
	wb.Reset()
}

// sfReadAll returns every pair of every column family as cf/key → value.
func sfReadAll(t *testing.T, db *badger.DB) map[string][]byte {
	all := make(map[string][]byte)
	err := db.View(func(txn *badger.Txn) error {
		for _, cf := range engine_util.CFs {
			it := engine_util.NewCFIterator(cf, txn)
			for it.Seek(nil); it.Valid(); it.Next() {
				value, err := it.Item().ValueCopy(nil)
				if err != nil {
					it.Close()
					return err
				}
				all[cf+"/"+string(it.Item().KeyCopy(nil))] = value
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read back data: %v", err)
	}
	return all
}

// sfAssertSameData compares two data sets key by key.
func sfAssertSameData(t *testing.T, want, got map[string][]byte, seed int64) {
	t.Helper()
	for key, value := range want {
		gotValue, ok := got[key]
		if !ok {
			t.Errorf("key %q: expected a value of %d bytes, found none (seed %d)", key, len(value), seed)
		} else if !bytes.Equal(gotValue, value) {
			t.Errorf("key %q: expected value %x, got %x (seed %d)", key, value, gotValue, seed)
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("key %q: expected nothing, found a value (seed %d)", key, seed)
		}
	}
}

// sfBuild builds sfKey from db into dir and returns the
// snapshot data with its meta.
func sfBuild(t *testing.T, db *badger.DB, dir string, sizeTrack *int64) (*rspb.RaftSnapshotData, *SnapStatistics) {
	s, err := NewSnapForBuilding(dir, sfKey, sizeTrack, nil)
	if err != nil {
		t.Fatalf("open snapshot for building: %v", err)
	}
	defer s.Close()
	if s.Exists() {
		t.Fatalf("snapshot %s exists before being built", s.Path())
	}
	txn := db.NewTransaction(false)
	defer txn.Discard()
	snapData := new(rspb.RaftSnapshotData)
	stat := new(SnapStatistics)
	if err := s.Build(txn, sfRegion, snapData, stat, nil); err != nil {
		t.Fatalf("build snapshot: %v", err)
	}
	if !s.Exists() {
		t.Fatalf("snapshot %s does not exist after Build", s.Path())
	}
	return snapData, stat
}

// sfCopyThroughHandles streams the built snapshot into a receiving handle in
// dst with an odd buffer size, so reads and writes straddle file boundaries.
func sfCopyThroughHandles(t *testing.T, src, dst string, meta *rspb.SnapshotMeta, sizeTrack *int64) *Snap {
	sending, err := NewSnapForSending(src, sfKey, sizeTrack, nil)
	if err != nil {
		t.Fatalf("open snapshot for sending: %v", err)
	}
	defer sending.Close()
	receiving, err := NewSnapForReceiving(dst, sfKey, meta, sizeTrack, nil)
	if err != nil {
		t.Fatalf("open snapshot for receiving: %v", err)
	}
	n, err := io.CopyBuffer(struct{ io.Writer }{receiving}, struct{ io.Reader }{sending}, make([]byte, 7777))
	if err != nil {
		t.Fatalf("copy snapshot: %v", err)
	}
	if uint64(n) != sending.TotalSize() {
		t.Fatalf("copied %d bytes, expected TotalSize %d", n, sending.TotalSize())
	}
	if receiving.Exists() {
		t.Fatalf("received snapshot exists before Save")
	}
	if err := receiving.Save(); err != nil {
		t.Fatalf("save received snapshot: %v", err)
	}
	return receiving
}

func sfAssertDirEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) > 0 {
		t.Errorf("expected %s to be empty, found %v", dir, names)
	}
}

func TestSnapRoundTripKeyByKeyIntoBothKindsOfDB(t *testing.T) {
	for _, target := range []struct {
		name string
		open func(*testing.T) *badger.DB
	}{
		{"store engine", sfOpenStoreEngine},
		{"compressing badger", sfOpenCompressingDB},
	} {
		t.Run(target.name, func(t *testing.T) {
			seed := sfSeed(t)
			// Badger races with itself when one is opened while another
			// writes: open both first.
			src, dst := sfOpenStoreEngine(t), target.open(t)
			want := sfWriteData(t, src, rand.New(rand.NewSource(seed)), 3000)
			srcDir, dstDir := t.TempDir(), t.TempDir()
			sizeTrack := new(int64)

			snapData, stat := sfBuild(t, src, srcDir, sizeTrack)
			size := atomic.LoadInt64(sizeTrack)
			if stat.KVCount != len(want) || stat.Size != uint64(size) || size == 0 {
				t.Fatalf("build: expected %d keys and size %d, got %+v (seed %d)", len(want), size, stat, seed)
			}
			received := sfCopyThroughHandles(t, srcDir, dstDir, snapData.Meta, sizeTrack)
			if got := atomic.LoadInt64(sizeTrack); got != 2*size {
				t.Fatalf("tracked size after receiving: expected %d, got %d", 2*size, got)
			}

			applying, err := NewSnapForApplying(dstDir, sfKey, sizeTrack, nil)
			if err != nil || !applying.Exists() {
				t.Fatalf("open received snapshot for applying: exists=%v err=%v", err == nil && applying.Exists(), err)
			}
			if err := applying.Apply(ApplyOptions{DB: dst, Region: sfRegion}); err != nil {
				t.Fatalf("apply: %v", err)
			}
			sfAssertSameData(t, want, sfReadAll(t, dst), seed)

			applying.Delete()
			if received.Exists() || applying.Exists() {
				t.Errorf("received snapshot still exists after Delete")
			}
			sending, _ := NewSnapForSending(srcDir, sfKey, sizeTrack, nil)
			sending.Delete()
			if got := atomic.LoadInt64(sizeTrack); got != 0 {
				t.Errorf("tracked size after deleting both snapshots: expected 0, got %d", got)
			}
			sfAssertDirEmpty(t, srcDir)
			sfAssertDirEmpty(t, dstDir)
		})
	}
}

func TestSnapOfEmptyRegionRoundTrips(t *testing.T) {
	src, dst := sfOpenStoreEngine(t), sfOpenStoreEngine(t)
	srcDir, dstDir := t.TempDir(), t.TempDir()
	snapData, stat := sfBuild(t, src, srcDir, new(int64))
	if stat.KVCount != 0 || stat.Size != 0 {
		t.Fatalf("empty region: expected no keys and size 0, got %+v", stat)
	}
	received := sfCopyThroughHandles(t, srcDir, dstDir, snapData.Meta, new(int64))
	if err := received.Apply(ApplyOptions{DB: dst, Region: sfRegion}); err != nil {
		t.Fatalf("apply empty snapshot: %v", err)
	}
	if got := sfReadAll(t, dst); len(got) != 0 {
		t.Errorf("empty snapshot applied %d keys", len(got))
	}
}

// sfReceiveCase feeds a receiving handle and says what Save should complain about.
type sfReceiveCase struct {
	name    string
	mutate  func(data []byte) []byte
	wantErr string // from Write or Save
}

func TestSnapReceiveRejectsDamagedStreams(t *testing.T) {
	seed := sfSeed(t)
	src := sfOpenStoreEngine(t)
	sfWriteData(t, src, rand.New(rand.NewSource(seed)), 500)
	srcDir := t.TempDir()
	snapData, _ := sfBuild(t, src, srcDir, new(int64))
	sending, _ := NewSnapForSending(srcDir, sfKey, nil, nil)
	stream, err := io.ReadAll(sending)
	if err != nil {
		t.Fatalf("read built snapshot: %v", err)
	}
	cases := []sfReceiveCase{
		{"flipped byte", func(d []byte) []byte { d[len(d)/2] ^= 0x40; return d }, "checksum"},
		{"short", func(d []byte) []byte { return d[:len(d)-10] }, "bytes, its meta announces"},
		{"long", func(d []byte) []byte { return append(d, 1, 2, 3) }, "more than the"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			sizeTrack := new(int64)
			s, err := NewSnapForReceiving(dir, sfKey, snapData.Meta, sizeTrack, nil)
			if err != nil {
				t.Fatalf("open for receiving: %v", err)
			}
			_, err = s.Write(c.mutate(append([]byte(nil), stream...)))
			if err == nil {
				err = s.Save()
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("expected an error containing %q, got %v (seed %d)", c.wantErr, err, seed)
			}
			_ = s.Close()
			if s.Exists() || atomic.LoadInt64(sizeTrack) != 0 {
				t.Errorf("failed receive left a snapshot (exists=%v, tracked size %d)", s.Exists(), atomic.LoadInt64(sizeTrack))
			}
			sfAssertDirEmpty(t, dir)
		})
	}
}

func TestSnapReceiveRejectsBadMetaAndKeys(t *testing.T) {
	good := func() *rspb.SnapshotMeta {
		meta := &rspb.SnapshotMeta{}
		for _, cf := range snapshotCFs {
			meta.CfFiles = append(meta.CfFiles, &rspb.SnapshotCFFile{Cf: cf, Size_: 10})
		}
		return meta
	}
	cases := []struct {
		name    string
		key     SnapKey
		meta    func() *rspb.SnapshotMeta
		wantErr string
	}{
		{"path-like column family", sfKey, func() *rspb.SnapshotMeta { m := good(); m.CfFiles[1].Cf = "../../x"; return m }, "unknown column family"},
		{"unknown column family", sfKey, func() *rspb.SnapshotMeta { m := good(); m.CfFiles[0].Cf = "raft"; return m }, "unknown column family"},
		{"wrong order", sfKey, func() *rspb.SnapshotMeta {
			m := good()
			m.CfFiles[0], m.CfFiles[1] = m.CfFiles[1], m.CfFiles[0]
			return m
		}, "at position 0"},
		{"missing column family", sfKey, func() *rspb.SnapshotMeta { m := good(); m.CfFiles = m.CfFiles[:2]; return m }, "lists 2 files"},
		{"absurd size", sfKey, func() *rspb.SnapshotMeta { m := good(); m.CfFiles[2].Size_ = 1 << 50; return m }, "more than the"},
		{"no meta", sfKey, func() *rspb.SnapshotMeta { return nil }, "missing"},
		{"index zero", SnapKey{RegionID: 7, Term: 6}, good, "must be positive"},
		{"region zero", SnapKey{Term: 6, Index: 9}, good, "must be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := NewSnapForReceiving(dir, c.key, c.meta(), nil, nil)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("expected an error containing %q, got %v (handle %v)", c.wantErr, err, s)
			}
			sfAssertDirEmpty(t, dir)
		})
	}
}

func TestSnapApplyRejectsKeysOutsideRegionAndGarbageTables(t *testing.T) {
	seed := sfSeed(t)
	src, dst := sfOpenStoreEngine(t), sfOpenStoreEngine(t)
	sfWriteData(t, src, rand.New(rand.NewSource(seed)), 500)
	srcDir, dstDir := t.TempDir(), t.TempDir()
	snapData, _ := sfBuild(t, src, srcDir, new(int64))
	received := sfCopyThroughHandles(t, srcDir, dstDir, snapData.Meta, new(int64))

	narrower := &metapb.Region{Id: sfRegion.Id, StartKey: []byte("n"), EndKey: []byte("t")}
	err := received.Apply(ApplyOptions{DB: dst, Region: narrower})
	if err == nil || !strings.Contains(err.Error(), "outside region") {
		t.Fatalf("apply into a narrower region: expected an 'outside region' error, got %v (seed %d)", err, seed)
	}

	garbage := make([]byte, 4096)
	rand.New(rand.NewSource(seed)).Read(garbage)
	meta := &rspb.SnapshotMeta{}
	for i, cf := range snapshotCFs {
		f := &rspb.SnapshotCFFile{Cf: cf}
		if i == 0 {
			f.Size_, f.Checksum = uint64(len(garbage)), crc32.ChecksumIEEE(garbage)
		}
		meta.CfFiles = append(meta.CfFiles, f)
	}
	garbageKey := SnapKey{RegionID: 7, Term: 6, Index: 43}
	s, err := NewSnapForReceiving(dstDir, garbageKey, meta, nil, nil)
	if err != nil {
		t.Fatalf("open for receiving: %v", err)
	}
	if _, err := s.Write(garbage); err != nil {
		t.Fatalf("write garbage with its own checksum: %v", err)
	}
	if err := s.Save(); err != nil {
		t.Fatalf("save garbage with its own checksum: %v", err)
	}
	err = s.Apply(ApplyOptions{DB: dst, Region: sfRegion})
	if err == nil || !strings.Contains(err.Error(), "not a valid table") {
		t.Fatalf("apply garbage: expected a 'not a valid table' error, got %v (seed %d)", err, seed)
	}
	if got := sfReadAll(t, dst); len(got) != 0 {
		t.Errorf("rejected snapshots left %d keys in the database", len(got))
	}
	if _, err := os.Stat(filepath.Join(dstDir, snapPrefix(false, garbageKey)+applyDirSuffix)); !os.IsNotExist(err) {
		t.Errorf("apply left its scratch directory behind (stat error %v)", err)
	}
}

func TestSnapBuildReusesCompleteFilesAndReplacesBrokenOnes(t *testing.T) {
	seed := sfSeed(t)
	src := sfOpenStoreEngine(t)
	sfWriteData(t, src, rand.New(rand.NewSource(seed)), 300)
	dir := t.TempDir()
	sizeTrack := new(int64)
	first, _ := sfBuild(t, src, dir, sizeTrack)
	size := atomic.LoadInt64(sizeTrack)

	s, _ := NewSnapForBuilding(dir, sfKey, sizeTrack, nil)
	txn := src.NewTransaction(false)
	defer txn.Discard()
	again := new(rspb.RaftSnapshotData)
	if err := s.Build(txn, sfRegion, again, new(SnapStatistics), nil); err != nil {
		t.Fatalf("build again: %v", err)
	}
	if !proto.Equal(again.Meta, first.Meta) || atomic.LoadInt64(sizeTrack) != size {
		t.Fatalf("reuse: expected meta %v and tracked size %d, got %v and %d", first.Meta, size, again.Meta, atomic.LoadInt64(sizeTrack))
	}

	if err := os.Remove(s.cfFiles[0].Path); err != nil {
		t.Fatalf("break snapshot: %v", err)
	}
	mgr := NewSnapManager(dir)
	rebuilt := new(rspb.RaftSnapshotData)
	if err := s.Build(txn, sfRegion, rebuilt, new(SnapStatistics), mgr.Deleter()); err != nil {
		t.Fatalf("rebuild over broken files: %v", err)
	}
	if !proto.Equal(rebuilt.Meta, first.Meta) || !s.Exists() {
		t.Fatalf("rebuild: expected meta %v and complete files, got %v (exists=%v)", first.Meta, rebuilt.Meta, s.Exists())
	}
}

func TestSnapManagerInitRemovesLeftoversAndCountsCompleteSnapshots(t *testing.T) {
	src := sfOpenStoreEngine(t)
	sfWriteData(t, src, rand.New(rand.NewSource(1)), 200)
	dir := t.TempDir()
	sfBuild(t, src, dir, new(int64))
	complete, _ := NewSnapForSending(dir, sfKey, nil, nil)

	orphan := SnapKey{RegionID: 9, Term: 6, Index: 10}
	leftovers := []string{
		cfFilePath(dir, snapPrefix(false, orphan), engine_util.CfDefault), // a file without its meta
		cfFilePath(dir, snapPrefix(true, orphan), engine_util.CfWrite) + tmpFileSuffix,
		metaFilePath(dir, snapPrefix(true, orphan)) + tmpFileSuffix,
	}
	for _, path := range leftovers {
		if err := os.WriteFile(path, []byte("partial"), 0644); err != nil {
			t.Fatal(err)
		}
	}
	applyDir := filepath.Join(dir, snapPrefix(false, orphan)+applyDirSuffix)
	if err := os.MkdirAll(applyDir, 0755); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "README")
	if err := os.WriteFile(foreign, []byte("not ours"), 0644); err != nil {
		t.Fatal(err)
	}

	mgr := NewSnapManager(dir)
	if err := mgr.Init(); err != nil {
		t.Fatalf("init: %v", err)
	}
	for _, path := range append(leftovers, applyDir) {
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("expected leftover %s to be removed, stat error %v", path, err)
		}
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("a file that is not a snapshot was removed: %v", err)
	}
	if !complete.Exists() || mgr.GetTotalSnapSize() != complete.TotalSize() {
		t.Errorf("complete snapshot: expected it kept and counted (%d bytes), exists=%v counted=%d",
			complete.TotalSize(), complete.Exists(), mgr.GetTotalSnapSize())
	}
}

func TestSnapManagerNeverDeletesSnapshotsInUse(t *testing.T) {
	src := sfOpenStoreEngine(t)
	sfWriteData(t, src, rand.New(rand.NewSource(2)), 200)
	dir := t.TempDir()
	mgr := NewSnapManager(dir)
	if err := mgr.Init(); err != nil {
		t.Fatalf("init: %v", err)
	}
	builder, err := mgr.GetSnapshotForBuilding(sfKey)
	if err != nil {
		t.Fatalf("open for building: %v", err)
	}
	txn := src.NewTransaction(false)
	defer txn.Discard()
	if err := builder.Build(txn, sfRegion, new(rspb.RaftSnapshotData), new(SnapStatistics), mgr.Deleter()); err != nil {
		t.Fatalf("build: %v", err)
	}
	if mgr.GetTotalSnapSize() != builder.TotalSize() {
		t.Fatalf("tracked size: expected %d, got %d", builder.TotalSize(), mgr.GetTotalSnapSize())
	}

	mgr.Register(sfKey, SnapEntrySending)
	mgr.Register(sfKey, SnapEntrySending)
	if sending, receiving := mgr.Stats(); sending != 2 || receiving != 0 {
		t.Errorf("stats: expected 2 sending and 0 receiving, got %d and %d", sending, receiving)
	}
	if idle, _ := mgr.ListIdleSnap(); len(idle) != 0 {
		t.Errorf("a snapshot in use is listed as idle: %v", idle)
	}
	if err := mgr.DeleteSnapshot(sfKey, true); err == nil || !strings.Contains(err.Error(), ErrSnapInUse.Error()) {
		t.Errorf("deleting a snapshot in use: expected %v, got %v", ErrSnapInUse, err)
	}
	if mgr.Deleter().DeleteSnapshot(sfKey, builder, true) {
		t.Errorf("the deleter deleted a snapshot with two uses for a caller holding one")
	}
	mgr.Deregister(sfKey, SnapEntrySending)
	if idle, _ := mgr.ListIdleSnap(); len(idle) != 0 || !builder.Exists() {
		t.Errorf("one use left: expected no idle snapshot and the files kept, got %v exists=%v", idle, builder.Exists())
	}
	mgr.Deregister(sfKey, SnapEntrySending)

	idle, err := mgr.ListIdleSnap()
	want := []SnapKeyWithSending{{SnapKey: sfKey, IsSending: true}}
	if err != nil || len(idle) != 1 || idle[0] != want[0] {
		t.Fatalf("idle snapshots: expected %v, got %v (err %v)", want, idle, err)
	}
	if err := mgr.DeleteSnapshot(sfKey, true); err != nil {
		t.Fatalf("delete idle snapshot: %v", err)
	}
	if builder.Exists() || mgr.GetTotalSnapSize() != 0 {
		t.Errorf("after delete: expected no files and size 0, exists=%v size=%d", builder.Exists(), mgr.GetTotalSnapSize())
	}
	sfAssertDirEmpty(t, dir)
}

func TestSnapManagerTryRegisterRefusesASecondReceive(t *testing.T) {
	mgr := NewSnapManager(t.TempDir())
	if !mgr.TryRegister(sfKey, SnapEntryReceiving) {
		t.Fatalf("first receive of %s refused", sfKey)
	}
	if mgr.TryRegister(sfKey, SnapEntryReceiving) {
		t.Errorf("second concurrent receive of %s accepted", sfKey)
	}
	if !mgr.TryRegister(sfKey, SnapEntryApplying) {
		t.Errorf("an apply of %s refused while it is received", sfKey)
	}
	mgr.Deregister(sfKey, SnapEntryReceiving)
	mgr.Deregister(sfKey, SnapEntryApplying)
	if mgr.HasRegistered(sfKey) {
		t.Errorf("%s still registered after every use ended", sfKey)
	}
}

func TestSnapListIdleSortsByRegionTermIndex(t *testing.T) {
	dir := t.TempDir()
	keys := []SnapKeyWithSending{
		{SnapKey{RegionID: 3, Term: 7, Index: 20}, false},
		{SnapKey{RegionID: 3, Term: 6, Index: 30}, true},
		{SnapKey{RegionID: 12, Term: 6, Index: 9}, true},
		{SnapKey{RegionID: 3, Term: 7, Index: 20}, true},
	}
	for _, k := range keys {
		if err := os.WriteFile(metaFilePath(dir, snapPrefix(k.IsSending, k.SnapKey)), nil, 0644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := NewSnapManager(dir).ListIdleSnap()
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	want := append([]SnapKeyWithSending(nil), keys...)
	sort.Slice(want, func(i, j int) bool { return lessSnapKey(want[i], want[j]) })
	if fmt.Sprint(got) != fmt.Sprint(want) || want[0].SnapKey.Term != 6 || want[3].SnapKey.RegionID != 12 {
		t.Errorf("expected %v, got %v", want, got)
	}
}

func TestSnapFileNamesAndMetaOrder(t *testing.T) {
	if got := sfKey.String(); got != "7_6_42" {
		t.Errorf("key prints as %q, expected 7_6_42", got)
	}
	for _, name := range []string{"gen_7_6_42.meta", "gen_7_6_42_lock.sst", "rev_7_6_42_write.sst"} {
		key, _, ok := parseSnapFileName(name)
		if !ok || key != sfKey {
			t.Errorf("parse %q: expected key %v, got %v ok=%v", name, sfKey, key, ok)
		}
	}
	for _, name := range []string{"gen_7_6_42_raft.sst", "gen_7_6.meta", "xyz_7_6_42.meta", "gen_7_6_0.meta", "gen_7_6_42.meta.tmp"} {
		if _, _, ok := parseSnapFileName(name); ok {
			t.Errorf("parse %q: expected it not to be taken for a snapshot file", name)
		}
	}
	if got := getDisplayPath("/d", "gen_7_6_42"); got != "/d/gen_7_6_42_(default|lock|write).sst" {
		t.Errorf("display path: got %q", got)
	}

	given := []*CFFile{{CF: "write", Size: 3, Checksum: 30}, {CF: "default", Size: 1, Checksum: 10}, {CF: "lock", Size: 2, Checksum: 20}}
	meta, err := genSnapshotMeta(given)
	if err != nil {
		t.Fatalf("gen meta: %v", err)
	}
	if len(meta.CfFiles) != len(given) {
		t.Fatalf("gen meta of %d files: expected as many entries, got %d", len(given), len(meta.CfFiles))
	}
	for i, f := range meta.CfFiles {
		want := given[i]
		if f.Cf != want.CF || f.Size_ != want.Size || f.Checksum != want.Checksum {
			t.Errorf("meta entry %d: expected the file given at %d (%s, size %d, checksum %d), got %s of size %d, checksum %d",
				i, i, want.CF, want.Size, want.Checksum, f.Cf, f.Size_, f.Checksum)
		}
	}
	if _, err := genSnapshotMeta([]*CFFile{{CF: "raft"}}); err == nil {
		t.Errorf("gen meta accepted an unknown column family")
	}
	if _, err := genSnapshotMeta([]*CFFile{{CF: "lock"}, {CF: "lock"}}); err == nil {
		t.Errorf("gen meta accepted a column family twice")
	}
}

func TestSnapReadFailsOnTruncatedFile(t *testing.T) {
	src := sfOpenStoreEngine(t)
	sfWriteData(t, src, rand.New(rand.NewSource(3)), 300)
	dir := t.TempDir()
	sfBuild(t, src, dir, new(int64))
	sending, _ := NewSnapForSending(dir, sfKey, nil, nil)
	defer sending.Close()
	var truncated *CFFile
	for _, f := range sending.cfFiles {
		if f.Size > 0 {
			truncated = f
			break
		}
	}
	if err := os.Truncate(truncated.Path, int64(truncated.Size/2)); err != nil {
		t.Fatal(err)
	}
	if sending.Exists() {
		t.Errorf("a snapshot with a truncated file exists")
	}
	if _, err := io.ReadAll(sending); err == nil || !strings.Contains(err.Error(), "ends after") {
		t.Errorf("reading a truncated snapshot: expected an 'ends after' error, got %v", err)
	}
}
