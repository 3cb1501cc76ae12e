package mockcluster

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// SeedEnv names the environment variable that replays a test's random
// picks: SCHED_SEED=1234 go test -run TestX ./scheduler/...
const SeedEnv = "SCHED_SEED"

// Seed seeds the cluster's random region picks from SCHED_SEED, or from the
// clock, and has a failing test print the seed to replay it with.
func (mc *Cluster) Seed(tb testing.TB) int64 {
	tb.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv(SeedEnv); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			tb.Fatalf("%s=%q is not an integer seed", SeedEnv, s)
		}
		seed = v
	}
	mc.SetRandSeed(seed)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("random picks seeded with %d: replay with %s=%d", seed, SeedEnv, seed)
		}
	})
	return seed
}
