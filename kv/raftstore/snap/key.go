package snap

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	rspb "github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// SnapKey names one snapshot: the region and the raft term and index it was
// taken at.
type SnapKey struct {
	RegionID uint64
	Term     uint64
	Index    uint64
}

// String prints region_term_index, the key's part of every file name.
func (k SnapKey) String() string {
	return fmt.Sprintf("%d_%d_%d", k.RegionID, k.Term, k.Index)
}

// Validate rejects a key no snapshot can have: region ids start at 1 and
// a raft log at index 5. (The term is not checked: test fixtures build
// snapshots of states whose truncated term was left at 0.)
func (k SnapKey) Validate() error {
	if k.RegionID == 0 || k.Index == 0 {
		return errors.Errorf("invalid snapshot key %s: region id and index must be positive", k)
	}
	return nil
}

// SnapKeyFromRegionSnap is the key of snapshot snap of region regionID.
func SnapKeyFromRegionSnap(regionID uint64, snap *eraftpb.Snapshot) SnapKey {
	return SnapKey{
		RegionID: regionID,
		Term:     snap.GetMetadata().GetTerm(),
		Index:    snap.GetMetadata().GetIndex(),
	}
}

// SnapKeyFromSnap is the key of snap, taking the region from its data.
func SnapKeyFromSnap(snap *eraftpb.Snapshot) (SnapKey, error) {
	data := new(rspb.RaftSnapshotData)
	if err := data.Unmarshal(snap.GetData()); err != nil {
		return SnapKey{}, errors.Annotate(err, "decode snapshot data")
	}
	return SnapKeyFromRegionSnap(data.GetRegion().GetId(), snap), nil
}

// SnapKeyWithSending is a snapshot found in the snap directory: IsSending
// for one built here (to send), false for one received (to apply).
type SnapKeyWithSending struct {
	SnapKey   SnapKey
	IsSending bool
}

// File names.
const (
	snapGenPrefix  = "gen" // snapshots built by this store
	snapRevPrefix  = "rev" // snapshots received from another store
	sstFileSuffix  = ".sst"
	metaFileSuffix = ".meta"
	tmpFileSuffix  = ".tmp"
	applyDirSuffix = ".apply" // scratch directory of one Apply
)

// snapshotCFs are the column families of a snapshot, in file order.
var snapshotCFs = []string{engine_util.CfDefault, engine_util.CfLock, engine_util.CfWrite}

// snapPrefix is the common start of the names of one snapshot's files.
func snapPrefix(sending bool, key SnapKey) string {
	if sending {
		return snapGenPrefix + "_" + key.String()
	}
	return snapRevPrefix + "_" + key.String()
}

func cfFilePath(dir, prefix, cf string) string {
	return filepath.Join(dir, prefix+"_"+cf+sstFileSuffix)
}

func metaFilePath(dir, prefix string) string {
	return filepath.Join(dir, prefix+metaFileSuffix)
}

// getDisplayPath names the set of files of one snapshot in logs.
func getDisplayPath(dir string, prefix string) string {
	cfs := "(" + strings.Join(snapshotCFs, "|") + ")"
	return filepath.Join(dir, prefix+"_"+cfs+sstFileSuffix)
}

// parseSnapFileName recognises a complete (non-temporary) snapshot file
// name and returns its key and whether it was built here.
func parseSnapFileName(name string) (key SnapKey, isSending bool, ok bool) {
	var base string
	switch {
	case strings.HasSuffix(name, metaFileSuffix):
		base = strings.TrimSuffix(name, metaFileSuffix)
	case strings.HasSuffix(name, sstFileSuffix):
		base, ok = trimCFSuffix(strings.TrimSuffix(name, sstFileSuffix))
		if !ok {
			return SnapKey{}, false, false
		}
	default:
		return SnapKey{}, false, false
	}
	parts := strings.Split(base, "_")
	if len(parts) != 4 || (parts[0] != snapGenPrefix && parts[0] != snapRevPrefix) {
		return SnapKey{}, false, false
	}
	var nums [3]uint64
	for i, part := range parts[1:] {
		n, err := strconv.ParseUint(part, 10, 64)
		if err != nil {
			return SnapKey{}, false, false
		}
		nums[i] = n
	}
	key = SnapKey{RegionID: nums[0], Term: nums[1], Index: nums[2]}
	return key, parts[0] == snapGenPrefix, key.Validate() == nil
}

func trimCFSuffix(name string) (string, bool) {
	for _, cf := range snapshotCFs {
		if strings.HasSuffix(name, "_"+cf) {
			return strings.TrimSuffix(name, "_"+cf), true
		}
	}
	return "", false
}
