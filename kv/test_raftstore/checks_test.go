package test_raftstore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
)

// Tests of the checks the drivers rely on: the linearizability model, the
// list comparison, and the harness's own cleanup.

func TestKVModelAcceptsLinearizableHistory(t *testing.T) {
	h := newOpHistory()
	h.add(0, kvInput{Op: kvPut, Key: "k", Value: "1"}, kvOutput{}, 0, 10)
	h.add(1, kvInput{Op: kvGet, Key: "k"}, kvOutput{Value: "1"}, 5, 15) // concurrent with the put
	h.add(0, kvInput{Op: kvAppend, Key: "l", Value: "a"}, kvOutput{}, 20, 30)
	h.add(0, kvInput{Op: kvAppend, Key: "l", Value: "b"}, kvOutput{}, 31, 40)
	h.add(1, kvInput{Op: kvGet, Key: "l"}, kvOutput{Value: "ab"}, 41, 50)
	if v := checkLinearizable(h.operations(), t.Name()); v.result != porcupine.Ok {
		t.Fatalf("a linearizable history was judged %v", v.result)
	}
}

func TestKVModelOpenPutMayLandLate(t *testing.T) {
	h := newOpHistory()
	// Client 0's put of "x" got no answer at first, was retried and
	// acknowledged; the unanswered try landed after client 1's put.
	h.add(0, kvInput{Op: kvPut, Key: "k", Value: "x"}, kvOutput{}, 0, 10)
	h.addOpen(0, kvInput{Op: kvPut, Key: "k", Value: "x"}, 0, 1)
	h.add(1, kvInput{Op: kvPut, Key: "k", Value: "y"}, kvOutput{}, 20, 30)
	h.add(1, kvInput{Op: kvGet, Key: "k"}, kvOutput{Value: "y"}, 31, 40)
	h.add(1, kvInput{Op: kvGet, Key: "k"}, kvOutput{Value: "x"}, 41, 50)
	if v := checkLinearizable(h.operations(), t.Name()); v.result != porcupine.Ok {
		t.Fatalf("a late unanswered try explains the last read; judged %v", v.result)
	}
}

func TestKVModelRejectsStaleReadAndDrawsIt(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TINYKV_VIS_DIR", dir)
	h := newOpHistory()
	h.add(0, kvInput{Op: kvPut, Key: "k", Value: "1"}, kvOutput{}, 0, 10)
	h.add(0, kvInput{Op: kvPut, Key: "k", Value: "2"}, kvOutput{}, 11, 20)
	h.add(1, kvInput{Op: kvGet, Key: "k"}, kvOutput{Value: "1"}, 21, 30) // stale
	v := checkLinearizable(h.operations(), "Test/stale read")
	if v.result != porcupine.Illegal {
		t.Fatalf("a stale read was judged %v", v.result)
	}
	if v.err != nil || filepath.Dir(v.visualization) != dir {
		t.Fatalf("the visualization should be written in %s, got %q (err %v)", dir, v.visualization, v.err)
	}
	body, err := os.ReadFile(v.visualization)
	if err != nil || !strings.Contains(string(body), "<html") {
		t.Fatalf("the visualization %s is not an HTML page (err %v)", v.visualization, err)
	}
	if strings.ContainsAny(filepath.Base(v.visualization), " /") {
		t.Fatalf("the file name %q should be sanitized", v.visualization)
	}
}

func TestKVModelRejectsDuplicatedAppend(t *testing.T) {
	t.Setenv("TINYKV_VIS_DIR", t.TempDir())
	h := newOpHistory()
	h.add(0, kvInput{Op: kvAppend, Key: "l", Value: "a"}, kvOutput{}, 0, 10)
	h.add(0, kvInput{Op: kvGet, Key: "l"}, kvOutput{Value: "aa"}, 11, 20)
	if v := checkLinearizable(h.operations(), t.Name()); v.result != porcupine.Illegal {
		t.Fatalf("a list holding one append twice was judged %v", v.result)
	}
}

func listPairs(cli int, seqs ...int) []kvPair {
	var pairs []kvPair
	for _, i := range seqs {
		pairs = append(pairs, kvPair{key: listElemKey(cli, i), value: []byte(listElemValue(cli, i))})
	}
	return pairs
}

func TestCompareListReportsDifferences(t *testing.T) {
	cases := []struct {
		pairs []kvPair
		n     int
		want  string // "" for no error, else a part of the message
	}{
		{listPairs(3, 0, 1, 2), 3, ""},
		{nil, 0, ""},
		{listPairs(3, 0, 1), 3, "2 of 3 appends are present"},
		{listPairs(3, 0, 1, 2, 3), 3, "unexpected key"},
		{listPairs(3, 0, 2, 1), 3, "element 1 of 3"},
		{listPairs(4, 0), 1, "element 0 of 1"},
	}
	for _, c := range cases {
		err := compareList(3, c.pairs, c.n)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("n=%d: unexpected error %v", c.n, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("n=%d pairs=%d: want an error containing %q, got %v", c.n, len(c.pairs), c.want, err)
		}
	}
}

func TestSweepRemovesDirsOfEndedProcesses(t *testing.T) {
	// A pid that cannot exist (above the kernel's limit), and ours.
	dead := filepath.Join(os.TempDir(), fmt.Sprintf("%s%d-sweeptest", dirPrefix, 1<<30))
	mine := filepath.Join(os.TempDir(), fmt.Sprintf("%s%d-sweeptest", dirPrefix, os.Getpid()))
	for _, dir := range []string{dead, mine} {
		if err := os.MkdirAll(filepath.Join(dir, "store1"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	defer os.RemoveAll(mine)
	defer os.RemoveAll(dead)
	sweepStaleDirs()
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the directory of an ended process should be swept: %v", err)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("the directory of a live process must stay: %v", err)
	}
}

func TestFailNowPanicsWithTheMessage(t *testing.T) {
	defer func() {
		r := recover()
		if msg, ok := r.(string); !ok || !strings.Contains(msg, "key \"k\" should be 1") {
			t.Fatalf("failNow should panic with its message, got %v", r)
		}
	}()
	failNow("key %q should be %d", "k", 1)
}

func TestBadSeedIsRefusedClearly(t *testing.T) {
	t.Setenv(SeedEnv, "twelve")
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), SeedEnv) {
			t.Fatalf("a bad %s should be refused with a message naming it, got %v", SeedEnv, r)
		}
	}()
	chooseSeed()
}

func TestSeedFromEnvironment(t *testing.T) {
	t.Setenv(SeedEnv, "12345")
	if seed := chooseSeed(); seed != 12345 {
		t.Fatalf("seed from %s=12345: got %d", SeedEnv, seed)
	}
}

// TestLeaderFinderLeavesACutOffLeader: the old leader does not answer and
// the follower cut off with it keeps pointing at it; the finder must go on
// to the other peers instead of bouncing between those two.
func TestLeaderFinderLeavesACutOffLeader(t *testing.T) {
	region := testRegion(1, "", "", 1, 1, NewPeer(1, 1), NewPeer(2, 2), NewPeer(3, 3), NewPeer(4, 4), NewPeer(5, 5))
	oldLeader := region.Peers[0]
	f := newLeaderFinder()
	visited := map[uint64]bool{}
	for i := 0; i < 10; i++ {
		target := f.pick(region, oldLeader)
		visited[target.Id] = true
		switch target.Id {
		case 1:
			f.noAnswer(region)
		case 2:
			f.afterError(region, &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: 1, Leader: oldLeader}})
		default:
			return // reached the majority side
		}
	}
	t.Fatalf("after 10 tries the finder only visited %v", visited)
}

// TestMustPutFailsClearlyWhenNothingCommits: on a network that loses every
// message nothing commits; MustPut must give up at its deadline with the
// key, the region and the seed, after removing the cluster's directory.
func TestMustPutFailsClearlyWhenNothingCommits(t *testing.T) {
	cluster := NewTestCluster(3, config.NewTestConfig())
	cluster.name = t.Name()
	cluster.Start()
	defer cluster.Shutdown()
	cluster.AddFilter(&DropFractionFilter{Fraction: 1})
	cluster.requestTimeout = 2 * time.Second
	defer func() {
		msg := fmt.Sprint(recover())
		for _, want := range []string{`key "stuck"`, "no successful answer", "region", SeedEnv} {
			if !strings.Contains(msg, want) {
				t.Errorf("the failure should mention %q; got: %s", want, msg)
			}
		}
		if _, err := os.Stat(cluster.baseDir); !os.IsNotExist(err) {
			t.Errorf("the cluster's directory %s should be gone once MustPut failed (stat: %v)", cluster.baseDir, err)
		}
	}()
	cluster.MustPut([]byte("stuck"), []byte("v"))
	t.Fatalf("MustPut succeeded on a network that drops everything")
}

func TestClusterIsNamedAfterItsTest(t *testing.T) {
	helper := func() *Cluster { return NewTestCluster(1, config.NewTestConfig()) }
	if c := helper(); c.label() != "TestClusterIsNamedAfterItsTest" {
		t.Fatalf("a cluster made by a helper of this test is labelled %q", c.label())
	}
}
