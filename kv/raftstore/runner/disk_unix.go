//go:build linux || darwin

package runner

import "syscall"

// diskSpace is the size of the file system holding path and the bytes in
// it still free for an unprivileged process.
func diskSpace(path string) (capacity, available uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, err
	}
	bsize := uint64(st.Bsize)
	return st.Blocks * bsize, st.Bavail * bsize, nil
}
