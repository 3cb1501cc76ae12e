package snap

import (
	"hash"
	"hash/crc32"
	"io"
	"os"
	"sync/atomic"

	"github.com/Connor1996/badger"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	rspb "github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// Snapshot is a handle on the files of one snapshot. A handle is used by one
// goroutine at a time; several handles may point at the same files.
type Snapshot interface {
	// Read streams the column-family files one after another (sending).
	io.Reader
	// Write takes that stream back and splits it into files (receiving).
	io.Writer
	// Close releases open files; the temporary files of an unfinished
	// build or receive are removed.
	io.Closer
	// Build writes the region's data read through dbSnap.
	Build(dbSnap *badger.Txn, region *metapb.Region, snapData *rspb.RaftSnapshotData, stat *SnapStatistics, deleter SnapshotDeleter) error
	// Path names the files in logs.
	Path() string
	// Exists is true when the complete set of files is on disk.
	Exists() bool
	// Delete removes the files and subtracts their size from the tracked total.
	Delete()
	// Meta describes the meta file (its modification time dates the snapshot).
	Meta() (os.FileInfo, error)
	// TotalSize is the size of all column-family files: what Read yields.
	TotalSize() uint64
	// Save checks a received snapshot and makes its files visible.
	Save() error
	// Apply loads the files into a database.
	Apply(opts ApplyOptions) error
}

// SnapshotDeleter decides whether a snapshot's files may be deleted and
// deletes them. checkEntry is true when the caller itself holds one
// registration of the snapshot (see SnapManager.Register).
type SnapshotDeleter interface {
	DeleteSnapshot(key SnapKey, snapshot Snapshot, checkEntry bool) bool
}

// SnapStatistics describes a built snapshot.
type SnapStatistics struct {
	// Size is the total size of the column-family files in bytes.
	Size uint64
	// KVCount is the number of keys over all column families (0 when an
	// existing snapshot was reused instead of built).
	KVCount int
}

// ApplyOptions says where to apply a snapshot.
type ApplyOptions struct {
	DB     *badger.DB
	Region *metapb.Region
}

// NewApplyOptions bundles the database and region of an Apply.
func NewApplyOptions(db *badger.DB, region *metapb.Region) *ApplyOptions {
	return &ApplyOptions{DB: db, Region: region}
}

// CFFile is the file of one column family.
type CFFile struct {
	CF       string
	Path     string
	TmpPath  string
	Size     uint64
	Checksum uint32

	file    *os.File    // open while receiving
	written uint64      // bytes received so far
	crc     hash.Hash32 // checksum of the bytes received so far
}

// snapMode is what a handle was opened for.
type snapMode int

const (
	modeBuilding snapMode = iota
	modeSending
	modeReceiving
	modeApplying
)

var modeNames = [...]string{"building", "sending", "receiving", "applying"}

func (m snapMode) String() string { return modeNames[m] }

// Snap is the Snapshot of this package.
type Snap struct {
	key         SnapKey
	dir         string
	prefix      string
	displayPath string
	mode        snapMode
	cfFiles     []*CFFile
	metaPath    string
	sizeTrack   *int64
	deleter     SnapshotDeleter
	// metaKnown: cfFiles carry the sizes and checksums of a complete set.
	metaKnown bool

	// Sending: the file being read and how much of it is left.
	readIdx  int
	readFile *os.File
	readLeft uint64

	// Receiving: the file being written; whether the tmp files are open and
	// whether Save completed.
	writeIdx int
	tmpOpen  bool
	saved    bool
}

// NewSnapForBuilding opens a handle to build the snapshot key in dir.
func NewSnapForBuilding(dir string, key SnapKey, sizeTrack *int64, deleter SnapshotDeleter) (*Snap, error) {
	s, err := newSnap(dir, key, true, modeBuilding, sizeTrack, deleter)
	if err != nil {
		return nil, err
	}
	s.loadMetaIfComplete()
	return s, nil
}

// NewSnapForSending opens a handle to read the snapshot key built in dir.
// The handle of a missing snapshot answers false to Exists.
func NewSnapForSending(dir string, key SnapKey, sizeTrack *int64, deleter SnapshotDeleter) (*Snap, error) {
	s, err := newSnap(dir, key, true, modeSending, sizeTrack, deleter)
	if err != nil {
		return nil, err
	}
	s.loadMetaIfComplete()
	return s, nil
}

// NewSnapForReceiving opens a handle to receive the snapshot key, whose
// files snapshotMeta describes, into dir.
func NewSnapForReceiving(dir string, key SnapKey, snapshotMeta *rspb.SnapshotMeta, sizeTrack *int64, deleter SnapshotDeleter) (*Snap, error) {
	if err := validateSnapshotMeta(snapshotMeta); err != nil {
		return nil, errors.Annotatef(err, "receive snapshot %s", key)
	}
	s, err := newSnap(dir, key, false, modeReceiving, sizeTrack, deleter)
	if err != nil {
		return nil, err
	}
	s.setMeta(snapshotMeta)
	return s, nil
}

// NewSnapForApplying opens a handle to apply the snapshot key received in
// dir. The handle of a missing snapshot answers false to Exists.
func NewSnapForApplying(dir string, key SnapKey, sizeTrack *int64, deleter SnapshotDeleter) (*Snap, error) {
	s, err := newSnap(dir, key, false, modeApplying, sizeTrack, deleter)
	if err != nil {
		return nil, err
	}
	s.loadMetaIfComplete()
	return s, nil
}

func newSnap(dir string, key SnapKey, sending bool, mode snapMode, sizeTrack *int64, deleter SnapshotDeleter) (*Snap, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0755); err != nil {
		return nil, errors.Annotatef(err, "create snapshot directory %s", dir)
	}
	if sizeTrack == nil {
		sizeTrack = new(int64)
	}
	prefix := snapPrefix(sending, key)
	s := &Snap{
		key:         key,
		dir:         dir,
		prefix:      prefix,
		displayPath: getDisplayPath(dir, prefix),
		mode:        mode,
		metaPath:    metaFilePath(dir, prefix),
		sizeTrack:   sizeTrack,
		deleter:     deleter,
	}
	for _, cf := range snapshotCFs {
		path := cfFilePath(dir, prefix, cf)
		s.cfFiles = append(s.cfFiles, &CFFile{CF: cf, Path: path, TmpPath: path + tmpFileSuffix})
	}
	return s, nil
}

// setMeta records the sizes and checksums of a validated meta.
func (s *Snap) setMeta(meta *rspb.SnapshotMeta) {
	for i, f := range meta.CfFiles {
		s.cfFiles[i].Size = f.Size_
		s.cfFiles[i].Checksum = f.Checksum
	}
	s.metaKnown = true
}

// loadMetaIfComplete reads the meta of a complete set of files; anything
// else leaves the handle without a meta (Exists is false for it).
func (s *Snap) loadMetaIfComplete() {
	meta, ok := s.completeMeta()
	if ok {
		s.setMeta(meta)
	}
}

// completeMeta is the meta on disk when every file it lists is there with
// its size.
func (s *Snap) completeMeta() (*rspb.SnapshotMeta, bool) {
	meta, err := readMetaFile(s.metaPath)
	if err != nil {
		if !os.IsNotExist(errors.Cause(err)) {
			log.Warnf("[snap] snapshot %s has an unreadable meta: %v", s.displayPath, err)
		}
		return nil, false
	}
	for i, f := range meta.CfFiles {
		fi, err := os.Stat(s.cfFiles[i].Path)
		if err != nil || uint64(fi.Size()) != f.Size_ {
			return nil, false
		}
	}
	return meta, true
}

// Path names the files in logs.
func (s *Snap) Path() string { return s.displayPath }

// Exists is true when the complete set of files is on disk.
func (s *Snap) Exists() bool {
	_, ok := s.completeMeta()
	return ok
}

// Meta describes the meta file.
func (s *Snap) Meta() (os.FileInfo, error) {
	return os.Stat(s.metaPath)
}

// TotalSize is the size of all column-family files.
func (s *Snap) TotalSize() (total uint64) {
	for _, f := range s.cfFiles {
		total += f.Size
	}
	return total
}

// Delete removes the files (temporary ones included) and subtracts the
// size of those it removed from the tracked total.
func (s *Snap) Delete() {
	s.closeFiles()
	s.removeTmpFiles()
	if err := os.Remove(s.metaPath); err != nil && !os.IsNotExist(err) {
		log.Warnf("[snap] delete %s: %v", s.metaPath, err)
	}
	var removed int64
	for _, f := range s.cfFiles {
		fi, err := os.Stat(f.Path)
		if err != nil {
			continue
		}
		if err := os.Remove(f.Path); err != nil {
			if !os.IsNotExist(err) {
				log.Warnf("[snap] delete %s: %v", f.Path, err)
			}
			continue
		}
		removed += fi.Size()
	}
	atomic.AddInt64(s.sizeTrack, -removed)
	s.saved = false
	log.Infof("[snap] region=%d term=%d deleted snapshot %s (%d bytes)", s.key.RegionID, s.key.Term, s.displayPath, removed)
}

// Close releases open files. The temporary files of a build or receive
// that did not complete are removed: nothing partial is left behind.
func (s *Snap) Close() error {
	s.closeFiles()
	if (s.mode == modeReceiving || s.mode == modeBuilding) && !s.saved {
		s.removeTmpFiles()
	}
	return nil
}

func (s *Snap) closeFiles() {
	if s.readFile != nil {
		_ = s.readFile.Close()
		s.readFile = nil
	}
	for _, f := range s.cfFiles {
		if f.file != nil {
			_ = f.file.Close()
			f.file = nil
		}
	}
	s.tmpOpen = false
}

func (s *Snap) removeTmpFiles() {
	for _, path := range append(s.tmpPaths(), s.metaPath+tmpFileSuffix) {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			log.Warnf("[snap] remove temporary file %s: %v", path, err)
		}
	}
}

func (s *Snap) tmpPaths() []string {
	paths := make([]string, 0, len(s.cfFiles))
	for _, f := range s.cfFiles {
		paths = append(paths, f.TmpPath)
	}
	return paths
}

// Read streams the column-family files one after another, exactly
// TotalSize bytes, opening one file at a time.
func (s *Snap) Read(p []byte) (int, error) {
	if !s.metaKnown {
		return 0, errors.Errorf("snapshot %s is not complete, nothing to read", s.displayPath)
	}
	if len(p) == 0 {
		return 0, nil
	}
	for s.readIdx < len(s.cfFiles) {
		if s.readFile == nil {
			if err := s.openNextForReading(); err != nil {
				return 0, err
			}
			continue
		}
		if s.readLeft == 0 {
			_ = s.readFile.Close()
			s.readFile = nil
			s.readIdx++
			continue
		}
		if uint64(len(p)) > s.readLeft {
			p = p[:s.readLeft]
		}
		n, err := s.readFile.Read(p)
		s.readLeft -= uint64(n)
		if n > 0 {
			return n, nil
		}
		if err == io.EOF {
			f := s.cfFiles[s.readIdx]
			return 0, errors.Errorf("snapshot file %s ends after %d of its %d bytes", f.Path, f.Size-s.readLeft, f.Size)
		}
		if err != nil {
			return 0, errors.Annotatef(err, "read %s", s.cfFiles[s.readIdx].Path)
		}
	}
	return 0, io.EOF
}

// openNextForReading opens the current file, skipping empty ones.
func (s *Snap) openNextForReading() error {
	f := s.cfFiles[s.readIdx]
	if f.Size == 0 {
		s.readIdx++
		return nil
	}
	file, err := os.Open(f.Path)
	if err != nil {
		return errors.Annotatef(err, "open snapshot file for sending")
	}
	s.readFile = file
	s.readLeft = f.Size
	return nil
}

// Write takes the stream Read produced and splits it into the files by the
// meta's sizes. Bytes past the announced total are an error.
func (s *Snap) Write(p []byte) (int, error) {
	if s.mode != modeReceiving || s.saved {
		return 0, errors.Errorf("snapshot %s is not open for receiving", s.displayPath)
	}
	if err := s.openTmpFiles(); err != nil {
		return 0, err
	}
	written := 0
	for len(p) > 0 {
		if s.writeIdx >= len(s.cfFiles) {
			return written, errors.Errorf("snapshot %s: received more than the %d bytes its meta announces",
				s.displayPath, s.TotalSize())
		}
		f := s.cfFiles[s.writeIdx]
		room := f.Size - f.written
		if room == 0 {
			s.writeIdx++
			continue
		}
		chunk := p
		if uint64(len(chunk)) > room {
			chunk = chunk[:room]
		}
		n, err := f.file.Write(chunk)
		_, _ = f.crc.Write(chunk[:n])
		f.written += uint64(n)
		written += n
		if err != nil {
			return written, errors.Annotatef(err, "write %s", f.TmpPath)
		}
		p = p[n:]
	}
	return written, nil
}

// openTmpFiles creates the temporary files of a receive, once.
func (s *Snap) openTmpFiles() error {
	if s.tmpOpen {
		return nil
	}
	for _, f := range s.cfFiles {
		file, err := os.OpenFile(f.TmpPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0644)
		if err != nil {
			s.closeFiles()
			return errors.Annotatef(err, "create snapshot file")
		}
		f.file = file
		f.written = 0
		f.crc = crc32.NewIEEE()
	}
	s.tmpOpen = true
	return nil
}

// Save checks that every file got exactly its announced size and checksum,
// then makes the files visible and adds their size to the tracked total.
// On failure the temporary files are removed.
func (s *Snap) Save() error {
	if s.mode != modeReceiving {
		return errors.Errorf("snapshot %s is open for %s, not receiving", s.displayPath, s.mode)
	}
	if s.saved {
		return nil
	}
	if err := s.finishReceiving(); err != nil {
		s.closeFiles()
		s.removeTmpFiles()
		return err
	}
	return nil
}

func (s *Snap) finishReceiving() error {
	if err := s.openTmpFiles(); err != nil {
		return err
	}
	for _, f := range s.cfFiles {
		if f.written != f.Size {
			return errors.Errorf("snapshot %s: column family %s got %d bytes, its meta announces %d",
				s.displayPath, f.CF, f.written, f.Size)
		}
		if sum := f.crc.Sum32(); sum != f.Checksum {
			return errors.Errorf("snapshot %s: column family %s has checksum %08x, its meta announces %08x",
				s.displayPath, f.CF, sum, f.Checksum)
		}
	}
	for _, f := range s.cfFiles {
		err := f.file.Sync()
		if closeErr := f.file.Close(); err == nil {
			err = closeErr
		}
		f.file = nil
		if err != nil {
			return errors.Annotatef(err, "sync %s", f.TmpPath)
		}
	}
	s.tmpOpen = false
	meta, err := genSnapshotMeta(s.cfFiles)
	if err != nil {
		return err
	}
	if err := s.commitFiles(meta); err != nil {
		return err
	}
	atomic.AddInt64(s.sizeTrack, int64(s.TotalSize()))
	s.saved = true
	return nil
}

// commitFiles renames the finished temporary files into place, then writes
// the meta file, which marks the set complete.
func (s *Snap) commitFiles(meta *rspb.SnapshotMeta) error {
	data, err := meta.Marshal()
	if err != nil {
		return errors.Annotate(err, "encode snapshot meta")
	}
	for i, f := range s.cfFiles {
		if err := os.Rename(f.TmpPath, f.Path); err != nil {
			s.removeFinalFiles(i)
			return errors.Annotatef(err, "rename snapshot file")
		}
	}
	if err := writeFileAtomically(s.metaPath, data); err != nil {
		s.removeFinalFiles(len(s.cfFiles))
		return err
	}
	return syncDir(s.dir)
}

// removeFinalFiles undoes the renames of the first n files of a commit
// that failed, so no incomplete set stays visible.
func (s *Snap) removeFinalFiles(n int) {
	for _, f := range s.cfFiles[:n] {
		if err := os.Remove(f.Path); err != nil && !os.IsNotExist(err) {
			log.Warnf("[snap] remove %s: %v", f.Path, err)
		}
	}
}
