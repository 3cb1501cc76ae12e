package snap

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/log"
	rspb "github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// SnapEntry is what a snapshot is being used for.
type SnapEntry int

const (
	SnapEntryGenerating SnapEntry = 1
	SnapEntrySending    SnapEntry = 2
	SnapEntryReceiving  SnapEntry = 3
	SnapEntryApplying   SnapEntry = 4
)

var snapEntryNames = map[SnapEntry]string{
	SnapEntryGenerating: "generating",
	SnapEntrySending:    "sending",
	SnapEntryReceiving:  "receiving",
	SnapEntryApplying:   "applying",
}

func (e SnapEntry) String() string {
	if name, ok := snapEntryNames[e]; ok {
		return name
	}
	return "unknown"
}

// ErrSnapInUse is returned when deleting a snapshot that is registered.
var ErrSnapInUse = errors.New("snapshot is in use")

// SnapManager owns a store's snap directory: it opens handles on
// snapshots, counts the ones in use so that none of them is deleted, and
// tracks the total size of the complete snapshots on disk.
type SnapManager struct {
	base     string
	snapSize *int64

	mu sync.Mutex
	// registry counts, per snapshot, the uses of each kind in progress.
	registry map[SnapKey]map[SnapEntry]int
}

// NewSnapManager manages the directory path. Call Init before relying on
// the tracked size or on a directory left by an earlier run.
func NewSnapManager(path string) *SnapManager {
	return &SnapManager{
		base:     path,
		snapSize: new(int64),
		registry: make(map[SnapKey]map[SnapEntry]int),
	}
}

// Init creates the directory, removes what an earlier run left unfinished
// (temporary files, apply scratch directories, sets of files without a
// valid meta) and counts the size of the complete snapshots.
func (sm *SnapManager) Init() error {
	if err := os.MkdirAll(sm.base, 0755); err != nil {
		return errors.Annotatef(err, "create snap directory %s", sm.base)
	}
	entries, err := os.ReadDir(sm.base)
	if err != nil {
		return errors.Annotatef(err, "list snap directory %s", sm.base)
	}
	sets := make(map[SnapKeyWithSending]bool)
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(sm.base, name)
		if strings.HasSuffix(name, tmpFileSuffix) || (e.IsDir() && strings.HasSuffix(name, applyDirSuffix)) {
			log.Infof("[snap] removing leftover %s", path)
			if err := os.RemoveAll(path); err != nil {
				return errors.Annotatef(err, "remove leftover %s", path)
			}
			continue
		}
		if key, sending, ok := parseSnapFileName(name); ok && !e.IsDir() {
			sets[SnapKeyWithSending{SnapKey: key, IsSending: sending}] = true
		} else {
			log.Warnf("[snap] unexpected entry %s in the snap directory, leaving it", path)
		}
	}
	var total int64
	for set := range sets {
		s, err := sm.openForCheck(set)
		if err != nil {
			return err
		}
		if s.Exists() {
			total += int64(s.TotalSize())
			continue
		}
		log.Infof("[snap] removing incomplete snapshot %s", s.Path())
		s.Delete()
	}
	atomic.StoreInt64(sm.snapSize, total)
	return nil
}

func (sm *SnapManager) openForCheck(set SnapKeyWithSending) (*Snap, error) {
	if set.IsSending {
		return NewSnapForSending(sm.base, set.SnapKey, sm.snapSize, sm.Deleter())
	}
	return NewSnapForApplying(sm.base, set.SnapKey, sm.snapSize, sm.Deleter())
}

// GetTotalSnapSize is the size of the complete snapshots on disk.
func (sm *SnapManager) GetTotalSnapSize() uint64 {
	return uint64(atomic.LoadInt64(sm.snapSize))
}

// GetSnapshotForBuilding opens a handle to build snapshot key.
func (sm *SnapManager) GetSnapshotForBuilding(key SnapKey) (Snapshot, error) {
	return NewSnapForBuilding(sm.base, key, sm.snapSize, sm.Deleter())
}

// GetSnapshotForSending opens a handle to send snapshot key.
func (sm *SnapManager) GetSnapshotForSending(key SnapKey) (Snapshot, error) {
	return NewSnapForSending(sm.base, key, sm.snapSize, sm.Deleter())
}

// GetSnapshotForReceiving opens a handle to receive snapshot key; data is
// the snapshot's Data (a marshalled RaftSnapshotData), whose meta tells
// the files to expect.
func (sm *SnapManager) GetSnapshotForReceiving(key SnapKey, data []byte) (Snapshot, error) {
	snapData := new(rspb.RaftSnapshotData)
	if err := snapData.Unmarshal(data); err != nil {
		return nil, errors.Annotatef(err, "decode the data of snapshot %s", key)
	}
	return NewSnapForReceiving(sm.base, key, snapData.GetMeta(), sm.snapSize, sm.Deleter())
}

// GetSnapshotForApplying opens a handle to apply snapshot key, which must
// be complete on disk: a snapshot raft accepts has to be appliable, at once
// and after any restart.
func (sm *SnapManager) GetSnapshotForApplying(key SnapKey) (Snapshot, error) {
	s, err := NewSnapForApplying(sm.base, key, sm.snapSize, sm.Deleter())
	if err != nil {
		return nil, err
	}
	if !s.Exists() {
		s.Close()
		return nil, errors.Errorf("snapshot %s is missing or incomplete", s.Path())
	}
	return s, nil
}

// Register records one use of snapshot key; Deregister ends it.
func (sm *SnapManager) Register(key SnapKey, entry SnapEntry) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.registerLocked(key, entry)
}

func (sm *SnapManager) registerLocked(key SnapKey, entry SnapEntry) {
	entries := sm.registry[key]
	if entries == nil {
		entries = make(map[SnapEntry]int)
		sm.registry[key] = entries
	}
	entries[entry]++
}

// TryRegister registers the use unless a use of the same kind is already
// in progress (two receives of one snapshot would write the same files).
func (sm *SnapManager) TryRegister(key SnapKey, entry SnapEntry) bool {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if sm.registry[key][entry] > 0 {
		return false
	}
	sm.registerLocked(key, entry)
	return true
}

// Deregister ends one use registered with Register or TryRegister.
func (sm *SnapManager) Deregister(key SnapKey, entry SnapEntry) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	entries := sm.registry[key]
	if entries[entry] == 0 {
		log.Warnf("[snap] region=%d term=%d snapshot %s was not registered for %s", key.RegionID, key.Term, key, entry)
		return
	}
	entries[entry]--
	if entries[entry] == 0 {
		delete(entries, entry)
	}
	if len(entries) == 0 {
		delete(sm.registry, key)
	}
}

// HasRegistered tells whether snapshot key is in use.
func (sm *SnapManager) HasRegistered(key SnapKey) bool {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return len(sm.registry[key]) > 0
}

func (sm *SnapManager) registeredCountLocked(key SnapKey) int {
	n := 0
	for _, c := range sm.registry[key] {
		n += c
	}
	return n
}

// Stats counts the snapshots being sent and received.
func (sm *SnapManager) Stats() (sending, receiving uint32) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	for _, entries := range sm.registry {
		sending += uint32(entries[SnapEntrySending])
		receiving += uint32(entries[SnapEntryReceiving])
	}
	return sending, receiving
}

// ListIdleSnap lists the snapshots on disk that nobody uses, sorted by
// region, term and index. Incomplete ones are listed too, so that garbage
// collection can remove them.
func (sm *SnapManager) ListIdleSnap() ([]SnapKeyWithSending, error) {
	entries, err := os.ReadDir(sm.base)
	if err != nil {
		return nil, errors.Annotatef(err, "list snap directory %s", sm.base)
	}
	seen := make(map[SnapKeyWithSending]bool)
	var keys []SnapKeyWithSending
	sm.mu.Lock()
	for _, e := range entries {
		key, sending, ok := parseSnapFileName(e.Name())
		set := SnapKeyWithSending{SnapKey: key, IsSending: sending}
		if !ok || e.IsDir() || seen[set] || len(sm.registry[key]) > 0 {
			continue
		}
		seen[set] = true
		keys = append(keys, set)
	}
	sm.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool { return lessSnapKey(keys[i], keys[j]) })
	return keys, nil
}

func lessSnapKey(a, b SnapKeyWithSending) bool {
	if a.SnapKey != b.SnapKey {
		ka, kb := a.SnapKey, b.SnapKey
		if ka.RegionID != kb.RegionID {
			return ka.RegionID < kb.RegionID
		}
		if ka.Term != kb.Term {
			return ka.Term < kb.Term
		}
		return ka.Index < kb.Index
	}
	return !a.IsSending && b.IsSending
}

// DeleteSnapshot deletes the files of snapshot key (built here when
// isSending, received otherwise) unless it is in use (ErrSnapInUse).
func (sm *SnapManager) DeleteSnapshot(key SnapKey, isSending bool) error {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if sm.registeredCountLocked(key) > 0 {
		return errors.Annotatef(ErrSnapInUse, "delete snapshot %s", key)
	}
	s, err := sm.openForCheck(SnapKeyWithSending{SnapKey: key, IsSending: isSending})
	if err != nil {
		return err
	}
	s.Delete()
	return nil
}

// Deleter is the SnapshotDeleter that handles of this manager use: it
// refuses to delete a snapshot that somebody else is using.
func (sm *SnapManager) Deleter() SnapshotDeleter {
	return registryDeleter{sm: sm}
}

type registryDeleter struct {
	sm *SnapManager
}

// DeleteSnapshot deletes snapshot unless it is in use by anybody but the
// caller (who holds one registration when checkEntry is set).
func (d registryDeleter) DeleteSnapshot(key SnapKey, snapshot Snapshot, checkEntry bool) bool {
	d.sm.mu.Lock()
	defer d.sm.mu.Unlock()
	allowed := 0
	if checkEntry {
		allowed = 1
	}
	if n := d.sm.registeredCountLocked(key); n > allowed {
		log.Infof("[snap] region=%d term=%d not deleting %s: %d uses in progress", key.RegionID, key.Term, snapshot.Path(), n)
		return false
	}
	snapshot.Delete()
	return true
}
