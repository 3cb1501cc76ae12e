package test_raftstore

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"sync"
	"time"
)

// SeedEnv names the environment variable that fixes the seed of a cluster's
// randomness (message drops and delays, random regions and leaders, the
// choices of the test drivers). A failing test prints its seed; run it again
// with TINYKV_SEED=<seed> to replay the same random choices. Thread
// scheduling still differs between runs, so a replay makes a failure likely,
// not certain.
const SeedEnv = "TINYKV_SEED"

// chooseSeed returns the seed from SeedEnv, or a fresh one.
func chooseSeed() int64 {
	env := os.Getenv(SeedEnv)
	if env == "" {
		return time.Now().UnixNano()
	}
	seed, err := strconv.ParseInt(env, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("%s=%q is not a decimal int64 seed: %v", SeedEnv, env, err))
	}
	return seed
}

// lockedRand is a rand.Rand shared by goroutines.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newLockedRand(seed int64) *lockedRand {
	return &lockedRand{r: rand.New(rand.NewSource(seed))}
}

// Intn returns a number in [0, n).
func (l *lockedRand) Intn(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Intn(n)
}

// Int63n returns a number in [0, n).
func (l *lockedRand) Int63n(n int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Int63n(n)
}

// Float64 returns a number in [0, 1).
func (l *lockedRand) Float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}

// Int63 returns a non-negative number, to seed another generator.
func (l *lockedRand) Int63() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Int63()
}

// defaultRand serves filters used outside a cluster (AddFilter gives a
// filter its cluster's generator).
var defaultRand = newLockedRand(time.Now().UnixNano())
