//go:build !linux && !darwin

package runner

import "errors"

// diskSpace is not known on this system: the store reports no capacity.
func diskSpace(string) (capacity, available uint64, err error) {
	return 0, 0, errors.New("disk space is not known on this system")
}
