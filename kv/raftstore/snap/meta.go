package snap

import (
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/pingcap/errors"
	rspb "github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// maxCFFileSize bounds the size a snapshot meta may announce for one file.
// Badger tables address their blocks with 32-bit offsets, so no valid
// column-family file comes near it; a larger figure is a lie or corruption.
const maxCFFileSize = 1 << 32

// genSnapshotMeta lists the files in the order it is given them (the
// snapshot's own files come in column-family order). Each file must belong
// to a snapshot column family, and to a different one.
func genSnapshotMeta(cfFiles []*CFFile) (*rspb.SnapshotMeta, error) {
	meta := &rspb.SnapshotMeta{CfFiles: make([]*rspb.SnapshotCFFile, 0, len(cfFiles))}
	seen := make(map[string]bool, len(cfFiles))
	for _, f := range cfFiles {
		if !isSnapshotCF(f.CF) {
			return nil, errors.Errorf("snapshot file of unknown column family %q", f.CF)
		}
		if seen[f.CF] {
			return nil, errors.Errorf("two snapshot files for column family %q", f.CF)
		}
		seen[f.CF] = true
		meta.CfFiles = append(meta.CfFiles, &rspb.SnapshotCFFile{Cf: f.CF, Size_: f.Size, Checksum: f.Checksum})
	}
	return meta, nil
}

func isSnapshotCF(cf string) bool {
	for _, known := range snapshotCFs {
		if cf == known {
			return true
		}
	}
	return false
}

// validateSnapshotMeta checks a meta that came from disk or from another
// store: one file per snapshot column family, in order, of a plausible size.
func validateSnapshotMeta(meta *rspb.SnapshotMeta) error {
	if meta == nil {
		return errors.New("snapshot meta is missing")
	}
	files := meta.GetCfFiles()
	if len(files) != len(snapshotCFs) {
		return errors.Errorf("snapshot meta lists %d files, expected one per column family %v", len(files), snapshotCFs)
	}
	for i, f := range files {
		if !isSnapshotCF(f.GetCf()) {
			return errors.Errorf("snapshot meta names unknown column family %q", f.GetCf())
		}
		if f.GetCf() != snapshotCFs[i] {
			return errors.Errorf("snapshot meta lists column family %q at position %d, expected %q", f.GetCf(), i, snapshotCFs[i])
		}
		if f.GetSize_() > maxCFFileSize {
			return errors.Errorf("snapshot meta announces %d bytes for column family %s, more than the %d a file can hold",
				f.GetSize_(), f.GetCf(), uint64(maxCFFileSize))
		}
	}
	return nil
}

// readMetaFile loads and validates a meta file.
func readMetaFile(path string) (*rspb.SnapshotMeta, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	meta := new(rspb.SnapshotMeta)
	if err := meta.Unmarshal(data); err != nil {
		return nil, errors.Annotatef(err, "decode snapshot meta %s", path)
	}
	if err := validateSnapshotMeta(meta); err != nil {
		return nil, errors.Annotatef(err, "snapshot meta %s", path)
	}
	return meta, nil
}

// writeFileAtomically writes data to path through path.tmp, synced, so that
// path either does not exist or holds all of data.
func writeFileAtomically(path string, data []byte) error {
	tmp := path + tmpFileSuffix
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0644)
	if err != nil {
		return errors.WithStack(err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return errors.Annotatef(err, "write %s", path)
	}
	return nil
}

// fileSizeAndChecksum reads the whole file once.
func fileSizeAndChecksum(path string) (uint64, uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, errors.WithStack(err)
	}
	defer f.Close()
	h := crc32.NewIEEE()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, 0, errors.Annotatef(err, "checksum %s", path)
	}
	return uint64(n), h.Sum32(), nil
}

// syncDir makes renames inside dir durable.
func syncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return errors.WithStack(err)
	}
	err = d.Sync()
	if closeErr := d.Close(); err == nil {
		err = closeErr
	}
	return errors.Annotatef(err, "sync directory %s", dir)
}
