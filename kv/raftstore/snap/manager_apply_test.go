package snap

import (
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A received snapshot with a file missing must not be handed out for
// applying: raft would accept a snapshot the store can never apply.
func TestGetSnapshotForApplyingNeedsCompleteFiles(t *testing.T) {
	seed := sfSeed(t)
	src := sfOpenStoreEngine(t)
	sfWriteData(t, src, rand.New(rand.NewSource(seed)), 200)
	srcDir, dstDir := t.TempDir(), t.TempDir()
	sizeTrack := new(int64)
	snapData, _ := sfBuild(t, src, srcDir, sizeTrack)
	sfCopyThroughHandles(t, srcDir, dstDir, snapData.Meta, sizeTrack)

	mgr := NewSnapManager(dstDir)
	s, err := mgr.GetSnapshotForApplying(sfKey)
	if err != nil {
		t.Fatalf("complete received snapshot %s: expected it to open for applying, got %v (seed %d)", sfKey, err, seed)
	}
	_ = s.Close()

	entries, err := os.ReadDir(dstDir)
	if err != nil {
		t.Fatal(err)
	}
	removed := ""
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sst") {
			removed = filepath.Join(dstDir, e.Name())
			break
		}
	}
	if removed == "" {
		t.Fatalf("no column-family file among %v", entries)
	}
	if err := os.Remove(removed); err != nil {
		t.Fatal(err)
	}
	if s, err := mgr.GetSnapshotForApplying(sfKey); err == nil {
		_ = s.Close()
		t.Fatalf("snapshot %s without %s: expected an error from GetSnapshotForApplying, got a handle (seed %d)",
			sfKey, filepath.Base(removed), seed)
	}
}
