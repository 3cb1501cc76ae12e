package engine_util

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"weak"

	"github.com/Connor1996/badger"
	"github.com/Connor1996/badger/y"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// openTestEngines opens a store's two engines under dir.
func openTestEngines(t *testing.T, dir string) *Engines {
	t.Helper()
	kvPath, raftPath := filepath.Join(dir, "kv"), filepath.Join(dir, "raft")
	kvDB, err := CreateKVDB(kvPath)
	if err != nil {
		t.Fatal(err)
	}
	raftDB, err := CreateRaftDB(raftPath)
	if err != nil {
		kvDB.Close()
		t.Fatal(err)
	}
	return NewEngines(kvDB, raftDB, kvPath, raftPath)
}

// seriesOf counts the series of badger's vectors labelled with path dir.
func seriesOf(t *testing.T, dir string) int {
	t.Helper()
	collectors := []prometheus.Collector{y.NumPuts, y.NumLSMGets, y.WriteLSMDuration, y.LSMSize}
	ch := make(chan prometheus.Metric, 1024)
	for _, c := range collectors {
		c.Collect(ch)
	}
	close(ch)
	n := 0
	for m := range ch {
		var out dto.Metric
		if err := m.Write(&out); err != nil {
			t.Fatalf("read a badger metric: %v", err)
		}
		for _, l := range out.GetLabel() {
			if l.GetName() == "path" && l.GetValue() == dir {
				n++
			}
		}
	}
	return n
}

// Badger keeps metrics per database directory; closing a store's engines
// drops theirs, so that a process opening engines in ever new directories
// (a test binary) does not keep every closed database's series.
func TestClosedEnginesLeaveNoBadgerMetrics(t *testing.T) {
	engines := openTestEngines(t, t.TempDir())
	kvPath, raftPath := engines.KvPath, engines.RaftPath
	if err := PutCF(engines.Kv, CfDefault, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := GetCF(engines.Kv, CfDefault, []byte("k")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{kvPath, raftPath} {
		if n := seriesOf(t, path); n == 0 {
			t.Fatalf("expected badger's metrics of the open engine in %s, found none (does badger still label them by path?)", path)
		}
	}
	if err := engines.Close(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{kvPath, raftPath} {
		if n := seriesOf(t, path); n != 0 {
			t.Errorf("expected no badger metrics of the engine closed in %s, found %d series", path, n)
		}
	}
}

// closeHookedEngines opens engines with OnSync hooks that hold them (as
// test_raftstore's power-loss model does), writes, syncs and closes them,
// and returns weak pointers to the two databases.
func closeHookedEngines(t *testing.T, dir string) (weak.Pointer[badger.DB], weak.Pointer[badger.DB]) {
	engines := openTestEngines(t, dir)
	for _, db := range []*badger.DB{engines.Kv, engines.Raft} {
		synced := 0
		if !OnSync(db, func() { synced += int(UnsyncedBatches(db)) + 1 }) {
			t.Fatal("OnSync refused an engine of a store")
		}
		wb := new(WriteBatch)
		wb.DeferSync()
		wb.SetCF(CfDefault, []byte("k"), []byte("v"))
		if err := wb.WriteToDB(db); err != nil {
			t.Fatal(err)
		}
		if err := SyncDB(db); err != nil {
			t.Fatal(err)
		}
		if synced == 0 {
			t.Fatal("the OnSync hook did not run at the sync")
		}
	}
	if err := engines.Close(); err != nil {
		t.Fatal(err)
	}
	return weak.Make(engines.Kv), weak.Make(engines.Raft)
}

// Once closed and dropped by their owner, a store's engines, memtables
// included (some 20 MB per database), are garbage: no registry of this
// package keeps them, even when an OnSync hook refers to the engine. A
// test binary that kept them would keep every such test cluster's engines.
func TestClosedEnginesAreReleased(t *testing.T) {
	kv, raft := closeHookedEngines(t, t.TempDir())
	for i := 0; i < 3 && (kv.Value() != nil || raft.Value() != nil); i++ {
		runtime.GC()
	}
	if kv.Value() != nil {
		t.Errorf("expected the closed kv engine to be collected, it is still reachable (from a registry of closed engines?)")
	}
	if raft.Value() != nil {
		t.Errorf("expected the closed raft engine to be collected, it is still reachable (from a registry of closed engines?)")
	}
}

// tablesMappedIn lists this process's mappings of table files in dir; it
// skips the test where /proc/self/maps cannot be read.
func tablesMappedIn(t *testing.T, dir string) []string {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps to look at the mappings: %v", err)
	}
	var found []string
	for _, line := range strings.Split(string(maps), "\n") {
		if strings.Contains(line, dir+string(filepath.Separator)) && strings.Contains(line, ".sst") {
			found = append(found, line)
		}
	}
	return found
}

// Badger's Close leaves mapped the tables its last compactions replaced
// (the compaction of level 0 it runs itself included); closing the engines
// unmaps them, so that their pages do not count in the process's memory
// for good.
func TestClosedEnginesLeaveNoTableMapped(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	engines := openTestEngines(t, dir)
	// Three memtables' worth of data: level 0 has tables at Close.
	value := make([]byte, 1024)
	wb := new(WriteBatch)
	for i := 0; i < 3*memTableSize/len(value); i++ {
		wb.SetCF(CfDefault, []byte(fmt.Sprintf("key%08d", i)), value)
		if wb.Len() >= 512 {
			if err := engines.WriteKV(wb); err != nil {
				t.Fatal(err)
			}
			wb.Reset()
		}
	}
	if err := engines.WriteKV(wb); err != nil {
		t.Fatal(err)
	}
	if len(engines.Kv.Tables()) == 0 {
		t.Fatalf("expected the kv engine to have flushed tables after writing %d MB, it has none", 3*memTableSize>>20)
	}
	if len(tablesMappedIn(t, engines.KvPath)) == 0 {
		t.Fatalf("expected the open kv engine's tables to be mapped, found no mapping of %s", engines.KvPath)
	}
	if err := engines.Close(); err != nil {
		t.Fatal(err)
	}
	if left := tablesMappedIn(t, engines.KvPath); len(left) > 0 {
		t.Fatalf("expected no table of the closed kv engine to stay mapped, %d do:\n%s", len(left), strings.Join(left, "\n"))
	}
}
