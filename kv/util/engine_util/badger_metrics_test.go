package engine_util

import (
	"path/filepath"
	"testing"

	"github.com/Connor1996/badger/y"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

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
	dir := t.TempDir()
	kvPath, raftPath := filepath.Join(dir, "kv"), filepath.Join(dir, "raft")
	kvDB, err := CreateKVDB(kvPath)
	if err != nil {
		t.Fatal(err)
	}
	raftDB, err := CreateDB(raftPath, true)
	if err != nil {
		kvDB.Close()
		t.Fatal(err)
	}
	engines := NewEngines(kvDB, raftDB, kvPath, raftPath)
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
